{
  "targets": [
    {
      "target_name": "netmend_tun",
      "sources": ["addon.c", "tun.c", "udp.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11", "-pthread"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
