{
  "variables": {
    "unipc_werror%": "<!(node -p \"require('fs').existsSync('.git') ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "unipc",
      "sources": [
        "native/addon.cc",
        "native/common.cc",
        "native/wait.cc",
        "native/fd.cc",
        "native/pipe.cc",
        "native/mmap.cc",
        "native/shm.cc",
        "native/futex.cc",
        "native/sem.cc",
        "native/msg.cc",
        "native/mq.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "_GNU_SOURCE"
      ],
      "cflags": ["-Wall", "-Wextra", "-Wunused-parameter", "-fvisibility=hidden"],
      "cflags_cc": ["-Wall", "-Wextra", "-Wunused-parameter", "-fvisibility=hidden", "-include", "compat.h"],
      "conditions": [
        ["unipc_werror==1", { "cflags": ["-Werror"], "cflags_cc": ["-Werror"] }]
      ],
      "libraries": ["-pthread", "-lrt", "-ldl"],
      "ldflags": ["-Wl,-z,nodelete"]
    }
  ]
}
