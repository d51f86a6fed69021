print("lgperf")
