{
  "targets": [
    {
      "target_name": "pmt_native",
      "sources": ["module/native/pmt_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
