# The libdrm addon: one thin C++ file compiled against the system's libdrm (Debian: libdrm-dev;
# Yocto: the libdrm recipe, found through pkg-config). C++ exceptions on (NAPI_CPP_EXCEPTIONS) is
# the one exception mode of the whole project.
{
  "targets": [
    {
      "target_name": "drm",
      "sources": ["drm.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["<!@(pkg-config --cflags libdrm)", "-std=c++17"],
      "libraries": ["<!@(pkg-config --libs libdrm)"]
    }
  ]
}
