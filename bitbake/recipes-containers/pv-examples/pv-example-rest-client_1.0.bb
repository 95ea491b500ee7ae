SUMMARY = "pv-xconnect example in TypeScript: REST-over-UDS consumer"
DESCRIPTION = "Requires service `api` at /run/pv/services/api.sock and prints the identity the provider saw."

inherit pv-example-node
