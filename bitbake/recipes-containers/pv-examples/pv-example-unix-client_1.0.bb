SUMMARY = "pv-xconnect example in TypeScript: raw unix socket consumer"
DESCRIPTION = "Requires service `raw` at /run/pv/services/raw.sock and prints each echo it gets back."

PV_EXAMPLE_FILES = "args.json"

inherit pv-example-node
