SUMMARY = "pv-xconnect example in TypeScript: IPAM probe reusing ipam-valid's IP"
DESCRIPTION = "ipam-probe with PV_NETWORK_IP 10.0.3.50, like ipam-valid: deployed together, the second one is refused."

inherit pv-example-node
