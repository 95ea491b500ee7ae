# The Wayland client addon: one thin C++ file against the system's libwayland-client (Debian:
# libwayland-dev; Yocto: the wayland recipe, found through pkg-config). The xdg-shell protocol code
# is not in libwayland: wayland-scanner generates it at build time from wayland-protocols'
# xdg-shell.xml (Debian: wayland-protocols; Yocto: wayland-protocols + wayland-native for the
# scanner). C++ exceptions on (NAPI_CPP_EXCEPTIONS) is the one exception mode of the whole project.
{
  "variables": {
    "xdg_shell_xml": "<!(pkg-config --variable=pkgdatadir wayland-protocols)/stable/xdg-shell/xdg-shell.xml"
  },
  "targets": [
    {
      "target_name": "wayland",
      "sources": ["wayland.cc"],
      "actions": [
        {
          "action_name": "xdg_shell_client_header",
          "inputs": ["<(xdg_shell_xml)"],
          "outputs": ["<(INTERMEDIATE_DIR)/xdg-shell-client-protocol.h"],
          "action": ["wayland-scanner", "client-header", "<@(_inputs)", "<@(_outputs)"]
        },
        {
          "action_name": "xdg_shell_protocol_code",
          "inputs": ["<(xdg_shell_xml)"],
          "outputs": ["<(INTERMEDIATE_DIR)/xdg-shell-protocol.c"],
          "action": ["wayland-scanner", "private-code", "<@(_inputs)", "<@(_outputs)"],
          "process_outputs_as_sources": 1
        }
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<(INTERMEDIATE_DIR)"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["<!@(pkg-config --cflags wayland-client)", "-std=c++17"],
      "libraries": ["<!@(pkg-config --libs wayland-client)"]
    }
  ]
}
