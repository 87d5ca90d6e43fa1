-- Traffic capture for hijackguard's ActiveSync gateway (docs/gateway.md).
--
-- nginx's Lua module runs this in two phases of each ActiveSync request:
--   body_filter  collects the response body (up to max_body bytes) into
--                ngx.ctx, for Cmd=Sync, MeetingResponse and Settings only;
--   log          after the client has its answer, hands the exchange to a
--                zero-delay timer, which posts it to hijackguard's
--                POST /v1/activesync/observe over a cosocket, detached from
--                the request: the client's connection never waits for it.
-- Larger bodies pass through untouched and are not observed. Nothing is
-- queued while hijackguard cannot be reached: such exchanges are dropped.
-- Every outcome is counted in the shared dictionary "hijackguard", which
-- GET /_hijackguard/stats (loopback only) shows.
--
-- Configured once by init() in init_by_lua_block, from the generated nginx
-- configuration. The request body is nginx's $request_body, which holds it
-- only while it fits client_body_buffer_size (the configuration sets that
-- to max_body).

local _M = {}

local conf = {
  host = "127.0.0.1",
  port = 8081,
  tls = false,
  server_name = nil,
  tenant = "",
  token = nil,
  max_body = 1048576,
  timeout_ms = 5000,
}

-- Base64-form command codes (MS-ASHTTP) of the commands that are captured.
local CAPTURED_CODES = { [0] = "Sync", [15] = "MeetingResponse",
                         [17] = "Settings" }
local CAPTURED_NAMES = { sync = true, meetingresponse = true, settings = true }

local stats = ngx.shared.hijackguard

local function count(name)
  if stats then
    stats:incr(name, 1, 0)
  end
end

function _M.init(options)
  for k, v in pairs(options) do
    conf[k] = v
  end
  if conf.token_file then
    local f = io.open(conf.token_file, "rb")
    if f then
      conf.token = f:read("*l")
      f:close()
    end
  end
end

-- Whether this request's command is one that is captured, from the query
-- in either form.
local function captured_command()
  local args = ngx.var.args
  if not args or args == "" then
    return false
  end
  if args:find("=", 1, true) then
    local cmd = ngx.var.arg_cmd -- nginx matches argument names ignoring case
    return cmd ~= nil and CAPTURED_NAMES[cmd:lower()] == true
  end
  local raw = ngx.decode_base64(ngx.unescape_uri(args))
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

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(ch)
    return ESCAPES[ch] or string.format("\\u%04x", ch:byte())
  end) .. '"'
end

local function post(premature, body)
  if premature then
    count("dropped_shutdown")
    return
  end
  local sock = ngx.socket.tcp()
  sock:settimeouts(conf.timeout_ms, conf.timeout_ms, conf.timeout_ms)
  local ok, err = sock:connect(conf.host, conf.port)
  if not ok then
    count("dropped_unreachable")
    ngx.log(ngx.WARN, "hijackguard: observation dropped: cannot connect to ",
            conf.host, ":", conf.port, ": ", err)
    return
  end
  if conf.tls and sock:getreusedtimes() == 0 then
    ok, err = sock:sslhandshake(nil, conf.server_name or conf.host, true)
    if not ok then
      count("dropped_unreachable")
      ngx.log(ngx.WARN, "hijackguard: observation dropped: TLS: ", err)
      sock:close()
      return
    end
  end
  local head = {
    "POST /v1/activesync/observe HTTP/1.1\r\n",
    "Host: ", conf.server_name or conf.host, "\r\n",
    "Content-Type: application/json\r\n",
    "Content-Length: ", tostring(#body), "\r\n",
  }
  if conf.token then
    head[#head + 1] = "X-Hijackguard-Token: " .. conf.token .. "\r\n"
  end
  head[#head + 1] = "\r\n"
  ok, err = sock:send({ table.concat(head), body })
  if not ok then
    count("dropped_unreachable")
    ngx.log(ngx.WARN, "hijackguard: observation dropped: send: ", err)
    sock:close()
    return
  end
  local status_line
  status_line, err = sock:receive("*l")
  if not status_line then
    count("dropped_unreachable")
    ngx.log(ngx.WARN, "hijackguard: observation dropped: no answer: ", err)
    sock:close()
    return
  end
  local status = tonumber(status_line:match("^HTTP/1%.%d (%d%d%d)"))
  local length, close = 0, false
  while true do
    local line = sock:receive("*l")
    if not line then
      sock:close()
      count("dropped_unreachable")
      return
    end
    if line == "" then
      break
    end
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then
      name = name:lower()
      if name == "content-length" then
        length = tonumber(value) or 0
      elseif name == "connection" and value:lower() == "close" then
        close = true
      end
    end
  end
  local answer = length > 0 and sock:receive(length) or ""
  if close or not answer then
    sock:close()
  else
    sock:setkeepalive(60000, 16)
  end
  if status == 200 then
    count("delivered")
  else
    count("refused_" .. tostring(status))
    ngx.log(ngx.WARN, "hijackguard: observation refused with HTTP ",
            tostring(status), ": ", (answer or ""):sub(1, 300))
  end
end

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
  local h = ngx.req.get_headers(20)
  local headers = {}
  for _, name in ipairs({ "User-Agent", "MS-ASProtocolVersion",
                          "X-MS-PolicyKey", "Content-Type" }) do
    local v = h[name]
    if type(v) == "table" then
      v = v[1]
    end
    if v then
      headers[#headers + 1] = json_string(name) .. ":" .. json_string(v)
    end
  end
  local body = table.concat({
    '{"tenant_id":', json_string(conf.tenant),
    ',"observed_at":', json_string(os.date("!%Y-%m-%dT%H:%M:%S", ngx.req.start_time()) ..
      string.format(".%03dZ", math.floor((ngx.req.start_time() % 1) * 1000))),
    ',"eas_exchange":{"method":', json_string(ngx.req.get_method()),
    ',"target":', json_string(ngx.var.request_uri),
    ',"headers":{', table.concat(headers, ","), "}",
    ',"request_body":"', ngx.encode_base64(request_body), '"',
    ',"response_status":', tostring(ngx.status),
    ',"response_body":"', ngx.encode_base64(table.concat(c.parts)), '"',
    "}}",
  })
  local ok, err = ngx.timer.at(0, post, body)
  if not ok then
    count("dropped_timer")
    ngx.log(ngx.WARN, "hijackguard: observation dropped: ", err)
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
