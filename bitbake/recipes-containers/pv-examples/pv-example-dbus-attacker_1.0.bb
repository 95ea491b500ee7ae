SUMMARY = "pv-xconnect example in TypeScript: D-Bus consumer probing outside its interface"
DESCRIPTION = "Requires `system-bus` with role `nobody` and tries to own org.pantavisor.Example, to re-authenticate as uid 0, and to forge a sender; exits 1 with VULNERABLE: when anything gets through."

inherit pv-example-node
