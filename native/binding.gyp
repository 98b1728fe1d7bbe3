{
  "targets": [
    {
      "target_name": "xfrmd_netlink",
      "sources": ["nlsock.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
