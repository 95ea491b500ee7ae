SUMMARY = "pv-xconnect example in TypeScript: REST-over-UDS provider"
DESCRIPTION = "Exports service `api` (type rest) on /run/example/api.sock and answers with the caller identity pv-xconnect injects (X-PV-Client, X-PV-Role)."

inherit pv-example-node
