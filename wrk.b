Running 10s test @ http://127.0.0.1:18002/api/token
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   403.00us  609.79us   9.22ms   89.48%
    Req/Sec    88.10k     7.63k  112.87k    76.50%
  1754679 requests in 10.01s, 557.24MB read
Requests/sec: 175282.50
Transfer/sec:     55.67MB
