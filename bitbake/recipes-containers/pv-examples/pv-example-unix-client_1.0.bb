SUMMARY = "pv-xconnect example in TypeScript: raw unix socket consumer"
DESCRIPTION = "Requires service `raw` at /run/pv/services/raw.sock and prints each echo it gets back."

inherit pv-example-node
