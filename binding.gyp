{
  "targets": [
    {
      "target_name": "pmt_native",
      "sources": [
        "module/native/addon.c",
        "module/native/ethtool.c",
        "module/native/memory.c",
        "module/native/napi-util.c",
        "module/native/netdev.c",
        "module/native/offload.c",
        "module/native/packet.c",
        "module/native/poller.c",
        "module/native/privileges.c",
        "module/native/socket-read.c",
        "module/native/sockets.c",
        "module/native/split.c",
        "module/native/tun-io.c",
        "module/native/tun.c",
        "module/native/uring.c"
      ],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
