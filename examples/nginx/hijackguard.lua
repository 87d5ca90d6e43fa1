-- hijackguard's ActiveSync gateway in nginx (docs/gateway.md): the answers of
-- hijackguard's authorize kept for as long as it says, and traffic capture.
--
-- authorize()    content of the auth_request location: answers from the
--                shared dictionary "hijackguard_decisions" when it holds the
--                answer for this target, User-Agent and protocol version and
--                the change feed has not named its device since; otherwise
--                asks hijackguard through the internal location
--                /_hijackguard/authorize_upstream and keeps the answer (for
--                X-Hijackguard-Reuse seconds).
-- init_worker()  reads the change feed (GET /v1/activesync/changes) of each
--                hijackguard replica four times a second, in worker 0: the
--                devices whose decisions changed are marked in
--                "hijackguard_changed", per replica process; a new process,
--                a policy or exemption change empties
--                "hijackguard_decisions". While a replica's feed cannot be
--                read, nothing it answered counts: every request asks.
--
-- With several replicas (sharing one PostgreSQL database), authorize asks
-- the one nginx's upstream picks by a hash of the device (the DeviceId from
-- either target form, passed to the upstream location as an argument), and
-- each device's observations are posted to one replica (a CRC-32 of the
-- DeviceId), the next one while that one cannot be reached.
--
-- For capture, nginx's Lua module runs this in two phases of each ActiveSync
-- request:
--   body_filter  collects the response body (up to max_body bytes) into
--                ngx.ctx, for Cmd=Sync, MeetingResponse and Settings only;
--   log          after the client has its answer, queues the exchange in the
--                worker's memory, encoded as a ReportTrafficRequest in
--                protobuf binary; a timer posts what is queued, in batches
--                (a ReportTrafficBatch), to hijackguard's POST
--                /v1/activesync/observe over a cosocket, detached from the
--                request: the client's connection never waits for it.
-- Larger bodies pass through untouched and are not observed. Exchanges that
-- cannot be posted (hijackguard unreachable, or the queue full) are dropped,
-- not retried.
-- Every outcome is counted in the shared dictionary "hijackguard", which
-- GET /_hijackguard/stats (loopback only) shows.
--
-- Configured once by init() in init_by_lua_block, from the generated nginx
-- configuration. The request body is nginx's $request_body, which holds it
-- only while it fits client_body_buffer_size (the configuration sets that
-- to max_body).

local _M = {}

local conf = {
  -- hijackguard's replicas: { host = IP, port = N, server_name = NAME }.
  replicas = { { host = "127.0.0.1", port = 8081 } },
  tls = false,
  tenant = "",
  fail_open = false,
  token = nil,
  max_body = 1048576,
  timeout_ms = 5000,
  -- Per worker process: exchanges waiting to be posted, and per POST.
  max_queue = 10000,
  max_queue_bytes = 64 * 1048576,
  max_batch = 256,
  max_batch_bytes = 4 * 1048576,
  -- A batch smaller than max_batch waits this long (seconds) for more.
  flush_delay = 0.01,
  -- One exchange (both bodies and the rest): below hijackguard's default
  -- http.max_body_bytes (16 MiB), which refuses larger posts.
  max_line_bytes = 15 * 1048576,
}

-- Base64-form command codes (MS-ASHTTP) of the commands that are captured.
local CAPTURED_CODES = { [0] = "Sync", [15] = "MeetingResponse",
                         [17] = "Settings" }
local CAPTURED_NAMES = { sync = true, meetingresponse = true, settings = true }

local stats = ngx.shared.hijackguard
local decisions = ngx.shared.hijackguard_decisions
local changed = ngx.shared.hijackguard_changed
local DECISION_HEADERS = { "X-Hijackguard-Action", "X-Hijackguard-Evaluated",
                           "X-Hijackguard-Decision-Id",
                           "X-Hijackguard-Refusal" }

local function add(name, n)
  if stats and n > 0 then
    stats:incr(name, n, 0)
  end
end

local function count(name)
  add(name, 1)
end

-- Protobuf's wire format, for what the log phase sends: a base-128 varint,
-- and a length-delimited field given its key byte (field number * 8 + 2).
local char, floor = string.char, math.floor

-- (Up to 5 bytes, 2^35 - 1: lengths and the seconds of a time, without a
-- table; larger values take the loop.)
local function varint(n)
  if n < 128 then
    return char(n)
  elseif n < 16384 then
    return char(n % 128 + 128, floor(n / 128))
  elseif n < 2097152 then
    return char(n % 128 + 128, floor(n / 128) % 128 + 128, floor(n / 16384))
  elseif n < 268435456 then
    return char(n % 128 + 128, floor(n / 128) % 128 + 128,
                floor(n / 16384) % 128 + 128, floor(n / 2097152))
  elseif n < 34359738368 then
    return char(n % 128 + 128, floor(n / 128) % 128 + 128,
                floor(n / 16384) % 128 + 128, floor(n / 2097152) % 128 + 128,
                floor(n / 268435456))
  end
  local out = {}
  while n >= 128 do
    out[#out + 1] = char(n % 128 + 128)
    n = floor(n / 128)
  end
  out[#out + 1] = char(n)
  return table.concat(out)
end

local function field(key, bytes)
  return key .. varint(#bytes) .. bytes
end

-- How many bytes varint(n) takes.
local function varint_size(n)
  local size = 1
  while n >= 128 do
    n = floor(n / 128)
    size = size + 1
  end
  return size
end

function _M.init(options)
  for k, v in pairs(options) do
    conf[k] = v
  end
  conf.tenant_field = field("\10", conf.tenant) -- ASCII (nginx-config checks)
  if conf.token_file then
    local f = io.open(conf.token_file, "rb")
    if f then
      conf.token = f:read("*l")
      f:close()
    end
  end
end

local function hex_byte(hex)
  return string.char(tonumber(hex, 16))
end

-- The DeviceId a request target names, in either form ("" when it names
-- none): the plain form's DeviceId argument (its name in any case), or the
-- base64 form's device id (MS-ASHTTP: protocol version, command, locale,
-- then the device id's length and bytes).
local function device_of(uri)
  local q = uri:find("?", 1, true)
  if not q then
    return ""
  end
  local args = uri:sub(q + 1)
  if args:find("&", 1, true) or args:find("=[^=]") then
    for name, value in args:gmatch("([^&=]+)=([^&]*)") do
      if name:lower() == "deviceid" then
        return (value:gsub("%%(%x%x)", hex_byte))
      end
    end
    return ""
  end
  local raw = ngx.decode_base64((args:gsub("%%(%x%x)", hex_byte)))
  if not raw or #raw < 5 or #raw < 5 + raw:byte(5) then
    return ""
  end
  return raw:sub(6, 5 + raw:byte(5))
end

-- The replica a device's observations go to first (1-based).
local function replica_of(device)
  return ngx.crc32_long(device) % #conf.replicas + 1
end

-- Whether this request's command is one that is captured, from the query
-- in either form. (No closure is made here: LuaJIT cannot compile a
-- function that makes one, and this runs for every request.)
local function captured_command()
  local args = ngx.var.args
  if not args or args == "" then
    return false
  end
  -- The plain form has "&" or a "name=value" pair; the base64 form at most
  -- "=" padding at its end (as hijackguard's parser tells them apart).
  if args:find("&", 1, true) or args:find("=[^=]") then
    local cmd = ngx.var.arg_cmd -- nginx matches argument names ignoring case
    return cmd ~= nil and CAPTURED_NAMES[cmd:lower()] == true
  end
  -- Percent-decoding without turning "+" into a space ("+" is base64).
  local text = args:gsub("%%(%x%x)", hex_byte)
  local raw = ngx.decode_base64(text)
  if not raw or #raw < 2 then
    return false
  end
  return CAPTURED_CODES[raw:byte(2)] ~= nil
end

function _M.body_filter()
  local ctx = ngx.ctx
  local c = ctx.hijackguard
  if c == nil then
    if not captured_command() then
      ctx.hijackguard = false
      return
    end
    c = { parts = {}, size = 0 }
    ctx.hijackguard = c
  elseif c == false or c.skip then
    return
  end
  local chunk = ngx.arg[1]
  if chunk and #chunk > 0 then
    c.size = c.size + #chunk
    if c.size > conf.max_body then
      c.skip = "response_too_large"
      c.parts = nil
      return
    end
    c.parts[#c.parts + 1] = chunk
  end
end

local ESCAPES = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b',
                  ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r',
                  ['\t'] = '\\t' }

-- Whether `s` is valid UTF-8 as protobuf checks it (and so hijackguard):
-- no overlong forms, no surrogates (U+D800-DFFF), nothing above U+10FFFF.
-- One string protobuf refuses would make hijackguard refuse a whole batch.
local function valid_utf8(s)
  local i, n = 1, #s
  while i <= n do
    local c = s:byte(i)
    local len = c < 0x80 and 1 or (c >= 0xC2 and c <= 0xDF) and 2 or
                (c >= 0xE0 and c <= 0xEF) and 3 or
                (c >= 0xF0 and c <= 0xF4) and 4 or 0
    if len == 0 or i + len - 1 > n then
      return false
    end
    -- The second byte's range depends on the first (RFC 3629, section 4).
    local lo, hi = 0x80, 0xBF
    if c == 0xE0 then
      lo = 0xA0
    elseif c == 0xED then
      hi = 0x9F
    elseif c == 0xF0 then
      lo = 0x90
    elseif c == 0xF4 then
      hi = 0x8F
    end
    for j = i + 1, i + len - 1 do
      local b = s:byte(j)
      if b < lo or b > hi then
        return false
      end
      lo, hi = 0x80, 0xBF
    end
    i = i + len
  end
  return true
end

-- A JSON string (for the counters' names).
local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(ch)
    return ESCAPES[ch] or string.format("\\u%04x", ch:byte())
  end) .. '"'
end

-- A protobuf string: bytes that are not UTF-8 (a client may send any)
-- become U+FFFD, so that one odd header cannot make a whole batch
-- unreadable.
local function utf8(s)
  if s:find("[\128-\255]") and not valid_utf8(s) then
    return (s:gsub("[\128-\255]", "\239\191\189"))
  end
  return s
end

-- Exchanges waiting to be posted, per worker process, and whether a timer
-- is posting them. Bounded: beyond max_queue they are dropped and counted.
local queue = {}
local queued_bytes = 0
local posting = false

-- Sends one HTTP/1.1 request on `sock` and reads the answer: its status,
-- body and whether the server closes the connection; nil and why on failure.
local function exchange(sock, request)
  local ok, err = sock:send(request)
  if not ok then
    return nil, nil, nil, "send: " .. tostring(err)
  end
  local status_line
  status_line, err = sock:receive("*l")
  if not status_line then
    return nil, nil, nil, "no answer: " .. tostring(err)
  end
  local status = tonumber(status_line:match("^HTTP/1%.%d (%d%d%d)"))
  local length, close = 0, false
  while true do
    local line = sock:receive("*l")
    if not line then
      return nil, nil, nil, "the answer was cut"
    end
    if line == "" then
      break
    end
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then
      name = name:lower()
      if name == "content-length" then
        length = tonumber(value) or 0
      elseif name == "transfer-encoding" then
        return nil, nil, nil, "a chunked answer"
      elseif name == "connection" and value:lower() == "close" then
        close = true
      end
    end
  end
  local body = ""
  if length > 0 then
    body = sock:receive(length)
    if not body then
      return nil, nil, nil, "the answer was cut"
    end
  end
  if not status then
    return nil, nil, nil, "not an HTTP answer"
  end
  return status, body, close
end

-- After an answer: the connection back to the pool, or closed when the
-- server said it closes it.
local function release(sock, close)
  if close then
    sock:close()
  else
    sock:setkeepalive(5000, 4) -- below hijackguard's idle timeout
  end
end

-- A request's line and headers for replica `r`, with the gateway's token:
-- `extra` holds further header lines.
local function request_head(r, line, extra)
  local replica = conf.replicas[r]
  return table.concat({
    line, " HTTP/1.1\r\n",
    "Host: ", replica.server_name or replica.host, "\r\n",
    extra,
    conf.token and ("X-Hijackguard-Token: " .. conf.token .. "\r\n") or "",
    "\r\n",
  })
end

-- Posts one batch (a list of encoded observations, `size` bytes in all) to
-- replica `r`: true (and the status) when it answered.
local function post_batch(sock, r, batch, size)
  local head = request_head(r, "POST /v1/activesync/observe",
                            "Content-Type: application/x-protobuf\r\n"
                            .. "Content-Length: " .. tostring(size) .. "\r\n")
  -- (The socket takes a nested list as it is: no copy into one string.)
  local status, answer, close, err = exchange(sock, { head, batch })
  if not status then
    return false, err
  end
  if status ~= 200 then
    ngx.log(ngx.ERR, "hijackguard: ", #batch, " observations refused with HTTP ",
            tostring(status), ": ", answer:sub(1, 300))
  end
  return true, nil, close, status
end

local function connect(r)
  local replica = conf.replicas[r]
  local sock = ngx.socket.tcp()
  sock:settimeouts(conf.timeout_ms, conf.timeout_ms, conf.timeout_ms)
  local ok, err = sock:connect(replica.host, replica.port)
  if not ok then
    return nil, "cannot connect to " .. replica.host .. ":" .. replica.port
                .. ": " .. tostring(err)
  end
  if conf.tls and sock:getreusedtimes() == 0 then
    ok, err = sock:sslhandshake(nil, replica.server_name or replica.host, true)
    if not ok then
      sock:close()
      return nil, "TLS: " .. tostring(err)
    end
  end
  return sock
end

-- Posts one batch of encoded observations to replica `r` (the next ones
-- while it cannot be reached) and counts the outcome.
local function post_lines(r, batch, size)
  local sock, err, ok, close, status
  for i = 0, #conf.replicas - 1 do
    local at = (r - 1 + i) % #conf.replicas + 1
    sock, err = connect(at)
    ok, close, status = false, false, nil
    if sock then
      ok, err, close, status = post_batch(sock, at, batch, size)
    end
    if ok then
      break
    end
    if sock then
      sock:close()
      sock = nil
    end
  end
  if not ok then
    add("dropped_unreachable", #batch)
    ngx.log(ngx.ERR, "hijackguard: ", #batch, " observations dropped: ", err)
    return false
  end
  count("posts")
  if status == 200 then
    add("delivered", #batch)
  else
    add("refused_" .. tostring(status), #batch)
  end
  release(sock, close)
  return true
end

-- Posts the lines of `pending` that go to replica `r`, in batches; after a
-- batch that could not be posted, the rest of them are dropped (no replica
-- is there).
local function post_replica(pending, r)
  local batch, size = {}, 0
  for i = 1, #pending, 2 do
    if pending[i + 1] == r then
      local line = pending[i]
      if #batch >= conf.max_batch or
         (size > 0 and size + #line > conf.max_batch_bytes) then
        if not post_lines(r, batch, size) then
          local rest = 0
          for j = i, #pending, 2 do
            if pending[j + 1] == r then
              rest = rest + 1
            end
          end
          add("dropped_unreachable", rest)
          return
        end
        batch, size = {}, 0
      end
      batch[#batch + 1] = line
      size = size + #line
    end
  end
  if #batch > 0 then
    post_lines(r, batch, size)
  end
end

-- Posts everything queued, each replica's share in order.
local function post_all()
  while #queue > 0 and not ngx.worker.exiting() do
    if #queue < 2 * conf.max_batch then
      ngx.sleep(conf.flush_delay) -- fewer, larger posts
    end
    -- Take what is queued; what arrives meanwhile waits for the next turn.
    -- (Pairs: the encoded observation, then its replica.)
    local pending = queue
    queue, queued_bytes = {}, 0
    for r = 1, #conf.replicas do
      post_replica(pending, r)
    end
  end
end

-- The timer. A Lua error must not leave `posting` set: nothing would be
-- posted again.
local function post_queued(premature)
  if not premature then
    local ok, err = pcall(post_all)
    if not ok then
      ngx.log(ngx.ERR, "hijackguard: posting observations failed: ", err)
    end
  end
  if #queue > 0 then
    add("dropped_shutdown", #queue / 2)
    queue, queued_bytes = {}, 0
  end
  posting = false
end

-- The request headers an observation carries (key bytes of their map
-- entries, encoded once), and nginx's variables for them.
local CAPTURED_HEADERS = {
  { field("\10", "User-Agent"), "http_user_agent" },
  { field("\10", "MS-ASProtocolVersion"), "http_ms_asprotocolversion" },
  { field("\10", "X-MS-PolicyKey"), "http_x_ms_policykey" },
  { field("\10", "Content-Type"), "http_content_type" },
}

function _M.log()
  local c = ngx.ctx.hijackguard
  if not c then
    return
  end
  if c.skip then
    count("not_observed_" .. c.skip)
    return
  end
  local request_body = ngx.var.request_body
  if request_body == nil and ngx.var.request_body_file ~= nil then
    count("not_observed_request_too_large")
    return
  end
  request_body = request_body or ""
  if #request_body > conf.max_body then
    count("not_observed_request_too_large")
    return
  end
  -- A ReportTrafficRequest (tenant_id 1, observed_at 3, eas_exchange 4)
  -- as field 1 of a ReportTrafficBatch. EasExchange: method 1, target 2,
  -- headers 3 (map entries: key 1, value 2), request_body 4,
  -- response_status 5, response_body 6. The bodies are copied once, into
  -- the result: the enclosing lengths are computed, not measured.
  local small = {
    field("\10", ngx.req.get_method()),
    field("\18", utf8(ngx.var.request_uri)),
  }
  for _, h in ipairs(CAPTURED_HEADERS) do
    local v = ngx.var[h[2]]
    if v then
      small[#small + 1] = field("\26", h[1] .. field("\18", utf8(v)))
    end
  end
  small = table.concat(small)
  local status = ngx.status
  local exchange_size = #small
      + 1 + varint_size(#request_body) + #request_body
      + 1 + varint_size(status)
      + 1 + varint_size(c.size) + c.size
  -- Timestamp: seconds 1, nanos 2 (nginx's clock has milliseconds).
  local millis = floor(ngx.req.start_time() * 1000 + 0.5)
  local at = "\8" .. varint(floor(millis / 1000))
             .. "\16" .. varint(millis % 1000 * 1000000)
  local observation_size = #conf.tenant_field + 1 + varint_size(#at) + #at
      + 1 + varint_size(exchange_size) + exchange_size
  local pieces = {
    "\10", varint(observation_size),
    conf.tenant_field,
    "\26", varint(#at), at,
    "\34", varint(exchange_size),
    small,
    "\34", varint(#request_body), request_body,
    "\40", varint(status),
    "\50", varint(c.size),
  }
  for _, part in ipairs(c.parts) do
    pieces[#pieces + 1] = part
  end
  local body = table.concat(pieces)
  if #body > conf.max_line_bytes then
    count("not_observed_line_too_large") -- hijackguard would refuse it
    return
  end
  if #queue >= 2 * conf.max_queue or
     queued_bytes + #body > conf.max_queue_bytes then
    count("dropped_queue_full")
    return
  end
  queue[#queue + 1] = body
  queue[#queue + 1] = #conf.replicas > 1
                      and replica_of(device_of(ngx.var.request_uri)) or 1
  queued_bytes = queued_bytes + #body
  if not posting then
    local ok, err = ngx.timer.at(0, post_queued)
    if ok then
      posting = true
    else
      count("dropped_timer")
      ngx.log(ngx.ERR, "hijackguard: observations not posted: ", err)
    end
  end
end

local function answer(status, values)
  for i, name in ipairs(DECISION_HEADERS) do
    if values[i] ~= nil and values[i] ~= "" then
      ngx.header[name] = values[i]
    end
  end
  ngx.status = status
  ngx.send_headers()
  return ngx.exit(ngx.OK)
end

-- The change feeds (GET /v1/activesync/changes), each replica's read four
-- times a second by one worker (worker 0) for all of them. Their state lives
-- in the shared dictionary "hijackguard_changed", beside the marks:
--   "@instance:R"  the hijackguard process replica R's feed is from
--   "@seq:R"       the last change read from replica R
--   "@read_at:I"   when process I's feed was last read (a kept answer counts
--                  only while the feed of the process that gave it is fresh)
--   "@fence:I"     answers of process I decided before this change do not
--                  count (a policy or exemption change, a new process, a
--                  full dictionary)
--   "@gen"         how often the kept answers were emptied (workers drop
--                  their parsed copies when it moves)
--   "I:<device key>"  the device's last change in process I's feed
local FEED_FRESH = 2 -- seconds
local MARK_TTL = 7200 -- seconds; longer than any answer is kept

local function header(res, name)
  local v = res.header[name]
  return type(v) == "table" and v[1] or (v or "")
end

-- A feed's state as this worker last looked (at most 50 ms ago), per
-- process: fewer shared-dictionary reads on every request.
local seen = {}

local function feed_state(instance)
  local now = ngx.now()
  local state = seen[instance]
  if not state then
    if #seen > 64 then -- processes come and go: bounded
      seen = {}
    end
    state = { at = -1 }
    seen[instance] = state
  end
  if now - state.at > 0.05 then
    state.at = now
    state.read_at = changed:get("@read_at:" .. instance)
    state.fence = changed:get("@fence:" .. instance) or 0
  end
  return state
end

-- Whether a kept answer (decided at change `seq` of process `instance`, for
-- `device`) still counts.
local function still_counts(seq, device, instance)
  if not (changed and seq and device ~= "" and instance ~= "") then
    return false
  end
  local state = feed_state(instance)
  return state.read_at ~= nil and ngx.now() - state.read_at < FEED_FRESH and
         seq >= state.fence and
         (changed:get(instance .. ":" .. device) or 0) <= seq
end

-- A kept answer as the shared dictionary holds it: its expiry (ngx.now()
-- seconds), status, change number, device key, hijackguard instance, then
-- the decision headers, tab-separated.
local KEPT = "^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t"
             .. "([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$"

local function parse_kept(kept)
  local expires, status, seq, device, instance, a, b, c, d = kept:match(KEPT)
  if not expires then
    return nil
  end
  return { expires = tonumber(expires), status = tonumber(status),
           seq = tonumber(seq), device = device, instance = instance,
           values = { a, b, c, d } }
end

-- Kept answers this worker has read, parsed: the shared dictionary is read
-- and parsed once per answer and worker, not per request. One counts only
-- while the dictionary has not been emptied since it was read ("@gen" in
-- hijackguard_changed counts the times) and the change feed's state says
-- so, asked every time. At most MAX_PARSED_BYTES (keys are whole request
-- targets), emptied when full.
local MAX_PARSED_BYTES = 8 * 1048576
local parsed, parsed_bytes = {}, 0

local function kept_answer(key)
  if not (decisions and changed) then
    return nil
  end
  local now = ngx.now()
  local gen = changed:get("@gen") or 0
  local p = parsed[key]
  if p and p.gen == gen and p.expires > now and
     still_counts(p.seq, p.device, p.instance) then
    return p
  end
  local kept = decisions:get(key)
  p = kept and parse_kept(kept)
  if not (p and p.status and p.expires and p.expires > now and
          still_counts(p.seq, p.device, p.instance)) then
    return nil
  end
  p.gen = gen -- read before the dictionary: an emptying since is seen
  if parsed[key] == nil then
    local size = #key + #kept + 128
    if parsed_bytes + size > MAX_PARSED_BYTES then
      parsed, parsed_bytes = {}, 0
    end
    parsed_bytes = parsed_bytes + size
  end
  parsed[key] = p
  return p
end

function _M.authorize()
  local key = table.concat({ ngx.var.request_uri,
                             ngx.var.http_user_agent or "",
                             ngx.var.http_ms_asprotocolversion or "" }, "\n")
  local p = kept_answer(key)
  if p then
    return answer(p.status, p.values)
  end
  count("authorize_asked")
  -- The upstream picks the replica by this (a hash of it; hex, so that any
  -- device id bytes travel as an argument).
  local res = ngx.location.capture("/_hijackguard/authorize_upstream", {
    args = { hg_device = ngx.md5(device_of(ngx.var.request_uri)) } })
  if res.status == 401 or (res.status == 403 and
                           not res.header["X-Hijackguard-Action"]) then
    -- hijackguard refused the gateway itself (its token): nginx answers 503.
    return ngx.exit(401)
  end
  if res.status ~= 204 and res.status ~= 403 then
    -- hijackguard did not answer, or could not decide (502, 503, 504...).
    count("authorize_failed")
    if conf.fail_open then
      return answer(204, {})
    end
    return ngx.exit(500) -- nginx answers 503 with Retry-After
  end
  local values = {}
  for i, name in ipairs(DECISION_HEADERS) do
    values[i] = header(res, name)
  end
  local ttl = tonumber(header(res, "X-Hijackguard-Reuse")) or 0
  local device = header(res, "X-Hijackguard-Device-Key")
  local seq = header(res, "X-Hijackguard-Seq")
  local instance = header(res, "X-Hijackguard-Instance")
  if decisions and ttl > 0 and device ~= "" and tonumber(seq) and
     instance ~= "" then
    decisions:set(key, table.concat({ string.format("%.3f", ngx.now() + ttl),
                                      tostring(res.status), seq, device,
                                      instance, table.concat(values, "\t") },
                                    "\t"),
                  ttl)
  end
  return answer(res.status, values)
end

-- Empties the kept answers, here and in every worker's parsed copies.
local function forget_all()
  decisions:flush_all()
  changed:incr("@gen", 1, 0)
end

-- Marks a device's change in process `instance`'s feed; the mark only
-- rises. When the dictionary is full, nothing older than `seq` may count (a
-- lost mark must not revive an old answer).
local function mark(instance, key, seq)
  key = instance .. ":" .. key
  local current = changed:get(key)
  if current and current >= seq then
    return
  end
  local ok = changed:safe_set(key, seq, MARK_TTL)
  if not ok then
    changed:set("@fence:" .. instance, seq)
    forget_all()
  end
end

-- Reads replica `r`'s change feed once; true when it was read.
local function read_feed(r)
  local sock, err = connect(r)
  if not sock then
    return false, err
  end
  local since = changed:get("@seq:" .. r) or 0
  local status, body, close
  status, body, close, err = exchange(sock, request_head(r,
      "GET /v1/activesync/changes?since=" .. tostring(since),
      "X-Hijackguard-Tenant: " .. conf.tenant .. "\r\n"))
  if not status then
    sock:close()
    return false, err
  end
  release(sock, close)
  if status ~= 200 then
    return false, "HTTP " .. tostring(status)
  end
  local instance, head = body:match("^(%S+) (%d+)\n")
  head = tonumber(head)
  if not instance or not head then
    return false, "an unreadable answer"
  end
  if instance ~= changed:get("@instance:" .. r) then
    -- Another hijackguard process at this replica: what the old one
    -- answered no longer counts (its feed is no longer read), and the new
    -- one's answers count from here on.
    local old = changed:get("@instance:" .. r)
    if old then
      changed:delete("@read_at:" .. old)
    end
    forget_all()
    changed:set("@instance:" .. r, instance)
    changed:set("@fence:" .. instance, head)
  else
    for line in body:gmatch("\n([^\n]+)") do
      local key, n = line:match("^(%S+) (%d+)$")
      n = tonumber(n)
      if key == "*" and n then
        changed:set("@fence:" .. instance,
                    math.max(n, changed:get("@fence:" .. instance) or 0))
        forget_all()
      elseif key and n then
        mark(instance, key, n)
      end
    end
  end
  changed:set("@seq:" .. r, head)
  changed:set("@read_at:" .. instance, ngx.now())
  return true
end

local polling = {}
local feed_down = {}

local function poll(premature, r)
  if premature or polling[r] then
    return
  end
  polling[r] = true
  local ok, done, err = pcall(read_feed, r)
  polling[r] = false
  local replica = conf.replicas[r]
  local name = replica.host .. ":" .. replica.port
  if ok and done then
    if feed_down[r] then
      ngx.log(ngx.ERR, "hijackguard: the change feed of ", name,
              " is read again")
      feed_down[r] = false
    end
    return
  end
  count("feed_failed")
  if not feed_down[r] then -- once, not four times a second
    ngx.log(ngx.ERR, "hijackguard: the change feed of ", name,
            " cannot be read: ", tostring(ok and err or done))
    feed_down[r] = true
  end
end

-- init_worker_by_lua_block: worker 0 reads the change feeds for all, each
-- replica's on a timer of its own (one that does not answer holds up no
-- other).
function _M.init_worker()
  if ngx.worker.id() ~= 0 or not changed then
    return
  end
  for r = 1, #conf.replicas do
    local ok, err = ngx.timer.every(0.25, poll, r)
    if not ok then
      ngx.log(ngx.ERR, "hijackguard: no change feed timer: ", err)
    end
  end
end

-- GET /_hijackguard/stats: the counters as JSON.
function _M.stats()
  local out = {}
  if stats then
    for _, key in ipairs(stats:get_keys(100)) do
      out[#out + 1] = json_string(key) .. ":" .. tostring(stats:get(key))
    end
  end
  table.sort(out)
  ngx.header["Content-Type"] = "application/json"
  ngx.say("{", table.concat(out, ","), "}")
end

return _M
