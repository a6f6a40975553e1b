{
  "targets": [
    {
      "target_name": "netmend_tun",
      "sources": ["addon.c", "tun.c", "udp.c", "handshake.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11", "-pthread"],
      "ldflags": ["-pthread"],
      "libraries": ["-ldl"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
