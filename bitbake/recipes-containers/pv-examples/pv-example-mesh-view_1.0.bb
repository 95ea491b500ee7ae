SUMMARY = "pv-xconnect example in TypeScript: a live picture of the service mesh"
DESCRIPTION = "Reads pv-ctrl's GET /xconnect-graph every second and serves a web page drawing containers and links on 127.0.0.1:8470."

# pv-ctrl serves /xconnect-graph only to a container with role mgmt (pantavisor registers the
# endpoint as mgmt-only and answers others 403): containers/mesh-view/args.json sets PV_ROLES
# ["mgmt"], which pvr renders as "roles" in run.json. A mgmt container sees /pantavisor/pv-ctrl and
# may also change the device (install revisions, reboot): mesh-view only ever sends
# GET /xconnect-graph and GET /xconnect-counters. Pantavisor containers share the device's network
# namespace: reach the page through `ssh -L 8470:127.0.0.1:8470` rather than opening it to the network.

inherit pv-example-node
