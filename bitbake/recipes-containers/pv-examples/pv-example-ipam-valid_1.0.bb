SUMMARY = "pv-xconnect example in TypeScript: IPAM probe with a valid static IP"
DESCRIPTION = "ipam-probe with PV_NETWORK_IP 10.0.3.50 in pool `internal` (10.0.3.0/24): Pantavisor starts it."

inherit pv-example-node
