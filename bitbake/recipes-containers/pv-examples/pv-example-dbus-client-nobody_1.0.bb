SUMMARY = "pv-xconnect example in TypeScript: D-Bus consumer with the nobody role"
DESCRIPTION = "The dbus-client program with role `nobody`: the seed's policy lets any user call GetInfo, so it gets replies as documented; pv-xconnect master rejects it at authentication."

inherit pv-example-node
