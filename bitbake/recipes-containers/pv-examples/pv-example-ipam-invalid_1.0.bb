SUMMARY = "pv-xconnect example in TypeScript: IPAM probe with an IP outside the subnet"
DESCRIPTION = "ipam-probe with PV_NETWORK_IP 192.168.99.100, outside pool `internal`: Pantavisor refuses to start it (rollback in try-boot)."

inherit pv-example-node
