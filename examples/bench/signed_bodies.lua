-- wrk script: send pre-signed requests, each once, from a file.
--
--   wrk -t1 -c64 -d10s -s signed_bodies.lua URL -- FILE HEADER
--
-- FILE holds one request a line, the value of HEADER, a tab, then the JSON
-- body (`gateway.bench.bodies.write_requests` writes it). wrk's LuaJIT has no
-- HMAC, so the signatures are computed beforehand. Each wrk thread takes
-- every n-th line. When a thread runs out of lines it starts again from its
-- first one and counts the repeats, which `done` prints as `wrapped`: for
-- wallet callbacks a repeat is a replay, so a run that wrapped measured
-- something else and needs a larger FILE.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads - 1)
  for _, each in ipairs(threads) do
    each:set("thread_count", #threads)
  end
end

function init(args)
  local file, header = args[1], args[2]
  prepared = {}
  local line_number = 0
  for line in io.lines(file) do
    if line_number % thread_count == id then
      local tab = line:find("\t", 1, true)
      local headers = { ["Content-Type"] = "application/json" }
      headers[header] = line:sub(1, tab - 1)
      prepared[#prepared + 1] = wrk.format("POST", nil, headers, line:sub(tab + 1))
    end
    line_number = line_number + 1
  end
  sent = 0
  wrapped = 0
end

function request()
  sent = sent + 1
  local index = sent
  if index > #prepared then
    wrapped = wrapped + 1
    index = (index - 1) % #prepared + 1
  end
  return prepared[index]
end

function done(summary, latency, requests)
  local sent_total, wrapped_total = 0, 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + thread:get("sent")
    wrapped_total = wrapped_total + thread:get("wrapped")
  end
  io.write(string.format("bench: sent=%d wrapped=%d\n", sent_total, wrapped_total))
  io.write(string.format(
    "bench: requests=%d duration_us=%d non2xx=%d\n",
    summary.requests, summary.duration, summary.errors.status
  ))
end
