{
  "targets": [
    {
      "target_name": "netmend_tun",
      "sources": ["addon.c", "tun.c", "udp.c", "handshake.c", "control.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11", "-pthread"],
      "ldflags": ["-pthread"],
      "libraries": ["-ldl"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
