{"event":"error","time":"2026-11-29T14:43:21.697470856Z","error":"accepts 1 arg(s), received 0 (see sluice restore --help)","exit_code":2}
