SUMMARY = "pv-xconnect example in TypeScript: raw unix socket provider"
DESCRIPTION = "Exports service `raw` (type unix) by echoing on /run/example/raw.sock; pv-xconnect proxies it into each consumer."

inherit pv-example-node
