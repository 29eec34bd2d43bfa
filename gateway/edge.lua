-- The gateway's first filter: what may enter, and what every error reply says.
-- Rendered into the Envoy config by cli/src/billingos_cli/gateway.py, which
-- fills in the __PLACEHOLDERS__ (the reply table comes from LOCAL_REPLIES there).
--
-- On the way in:
--   * a path (with its query) longer than the limit is a 414, and a path that
--     ends with "/" (no route does) a 404;
--   * gRPC sent to the REST port is refused (Envoy answers a gRPC caller in
--     gRPC: UNIMPLEMENTED);
--   * every header not on the allow-list is dropped: client-sent grpc-*,
--     *-bin, te, internal x-billingos-* and anything else never reaches a
--     service (a header mutation before this filter already dropped the
--     worst, should this script ever fail);
--   * the path the call was made with (without its query) is passed on, so the
--     service can refuse a query or body that contradicts it;
--   * bodies are body.lua's, after the rate limit.
-- On the way out:
--   * grpc-* response headers are dropped (REST callers have no use for them);
--   * an error that is one of Envoy's own replies (marked by its mapper) keeps
--     its shape, with proto type names and echoed request bytes cut out of the
--     message; a service's error (our google.rpc.Status, with an ErrorInfo in
--     our domain) is passed as it is; anything else (a reply no BillingOS code
--     wrote) becomes the generic Status of its HTTP code, so no internal class,
--     type, header or host shows.

local MAX_PATH_BYTES = __MAX_PATH_BYTES__
local ALLOWED = __ALLOWED_HEADERS__
local REST_PATH_HEADER = "__REST_PATH_HEADER__"
local REST_QUERY_HEADER = "__REST_QUERY_HEADER__"
local LOCAL_REPLY_MARK = "__LOCAL_REPLY_MARK__"
local DOMAIN = '"domain":"__ERROR_DOMAIN__"'
-- [HTTP status] = {google.rpc code, reason, message}
local REPLIES = __REPLIES__
local OTHER_REPLY = __OTHER_REPLY__

local PROTO_SCALARS = {
  STRING = "a string", BYTES = "base64 text", BOOL = "true or false",
  INT32 = "an integer", INT64 = "an integer", UINT32 = "a non-negative integer",
  UINT64 = "a non-negative integer", SINT32 = "an integer", SINT64 = "an integer",
  FIXED32 = "a non-negative integer", FIXED64 = "a non-negative integer",
  SFIXED32 = "an integer", SFIXED64 = "an integer",
  DOUBLE = "a number", FLOAT = "a number", ENUM = "one of the documented names",
}

function envoy_on_request(request)
  local headers = request:headers()
  local path = headers:get(":path") or ""
  if #path > MAX_PATH_BYTES then
    request:respond({[":status"] = "414"}, "the URL is longer than " .. MAX_PATH_BYTES .. " bytes")
    return
  end
  local content_type = headers:get("content-type") or ""
  if string.sub(string.lower(content_type), 1, 16) == "application/grpc" then
    request:respond(
      {[":status"] = "404"},
      "this port serves REST/JSON; gRPC callers talk to the services directly")
    return
  end
  local drop = {}
  local seen = {}
  for name, value in pairs(headers) do
    if string.sub(name, 1, 1) ~= ":" then
      if not ALLOWED[name] then
        drop[#drop + 1] = name
      elseif seen[name] then
        request:respond({[":status"] = "400"}, name .. ": may be sent only once")
        return
      elseif not string.match(value, "^[\32-\126]*$") then
        request:respond({[":status"] = "400"}, name .. ": must be printable ASCII")
        return
      else
        seen[name] = true
      end
    end
  end
  for _, name in ipairs(drop) do
    headers:remove(name)
  end
  local query_at = string.find(path, "?", 1, true)
  local bare_path = query_at and string.sub(path, 1, query_at - 1) or path
  if #bare_path > 1 and string.sub(bare_path, -1) == "/" then
    -- No route ends in "/"; the transcoder would match `/v1/customers/` (or
    -- `/v1/customers/.`, which normalizes to it) to the list route, so an id
    -- of "." or ".." would read the whole list where one item was asked for.
    request:respond({[":status"] = "404"}, "no route ends with /")
    return
  end
  headers:replace(REST_PATH_HEADER, bare_path)
  if query_at and query_at < #path then
    -- The query string itself: the service refuses parameters that would
    -- set what the route takes from the body (bindings.check_query).
    headers:replace(REST_QUERY_HEADER, string.sub(path, query_at + 1))
  end
end

-- Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
local function is_utf8(text)
  local i, n = 1, #text
  while i <= n do
    local c = string.byte(text, i)
    local extra, low, high = 0, 0x80, 0xBF
    if c < 0x80 then extra = 0
    elseif c >= 0xC2 and c <= 0xDF then extra = 1
    elseif c == 0xE0 then extra, low = 2, 0xA0
    elseif c == 0xED then extra, high = 2, 0x9F
    elseif c >= 0xE1 and c <= 0xEF then extra = 2
    elseif c == 0xF0 then extra, low = 3, 0x90
    elseif c >= 0xF1 and c <= 0xF3 then extra = 3
    elseif c == 0xF4 then extra, high = 3, 0x8F
    else return false end
    for k = 1, extra do
      local follow = string.byte(text, i + k)
      if not follow then return false end
      if k == 1 then
        if follow < low or follow > high then return false end
      elseif follow < 0x80 or follow > 0xBF then
        return false
      end
    end
    i = i + extra + 1
  end
  return true
end

local function json_string(text)
  local escaped = string.gsub(text, '[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. escaped .. '"'
end

local function reply_of(status)
  return REPLIES[status] or OTHER_REPLY
end

local function generic_body(status)
  local reply = reply_of(status)
  return '{"code":' .. reply[1] .. ',"message":' .. json_string(reply[3]) ..
    ',"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":' ..
    json_string(reply[2]) .. ',"domain":"__ERROR_DOMAIN__"}]}'
end

-- Where the JSON string value of `"message":` starts and ends (the indexes of
-- its quotes), escaped quotes and backslashes inside it taken into account.
local function message_span(text)
  local key_start, key_end = string.find(text, '"message":"', 1, true)
  if not key_start then return nil end
  local i = key_end + 1
  while i <= #text do
    local c = string.sub(text, i, i)
    if c == "\\" then
      i = i + 2
    elseif c == '"' then
      return key_end, i
    else
      i = i + 1
    end
  end
  return nil
end

-- The JSON-escaped text up to its first line break (an escaped \n or
-- \u000a; an escaped backslash followed by "n" is not one).
local function first_line(escaped)
  local i = 1
  while i <= #escaped do
    local c = string.sub(escaped, i, i)
    if c == "\\" then
      local next_char = string.sub(escaped, i + 1, i + 1)
      if next_char == "n" or next_char == "r" then
        return string.sub(escaped, 1, i - 1)
      end
      if next_char == "u" then
        local code = string.lower(string.sub(escaped, i + 2, i + 5))
        if code == "000a" or code == "000d" then
          return string.sub(escaped, 1, i - 1)
        end
        i = i + 6
      else
        i = i + 2
      end
    else
      i = i + 1
    end
  end
  return escaped
end

-- An Envoy or transcoder message (JSON-escaped, as it sits in the body), made
-- fit to show: no proto type names, no echo of the request's bytes.
local function cleaned_message(message, status)
  -- Everything from the first line break on is an echo of the input and a caret.
  message = first_line(message)
  message = string.gsub(message, "Proto field is not repeating, cannot start list%.",
    "must not be a list")
  message = string.gsub(message, "invalid value oneof field '([%w_]+)' is already set%. " ..
    "Cannot set '([%w_]+)' for type oneof", "only one of the choices of %1 may be given (%2)")
  message = string.gsub(message, "Encountered non UTF%-8 code points%.",
    "the body is not valid UTF-8 text")
  message = string.gsub(message, 'Could not find field \\"([^\\]*)\\" in the type \\"[^\\]*\\"%.',
    "%1: is not a parameter of this method")
  message = string.gsub(message, " for type TYPE_(%u+%d*)", function(kind)
    return " (expected " .. (PROTO_SCALARS[kind] or "another type") .. ")"
  end)
  message = string.gsub(message, " for type type%.googleapis%.com/[%w%._]+", " (wrong type)")
  message = string.gsub(message, "type%.googleapis%.com/[%w%._]+", "a message")
  message = string.gsub(message, "billingos%.[%w_]+%.v%d+%.[%w%._]+", "the request")
  message = string.gsub(message, "google%.protobuf%.[%w%._]+", "a value")
  if not is_utf8(message) then
    message = string.gsub(message, "[\128-\255]", "")
  end
  if message == "" then
    return string.sub(json_string(reply_of(status)[3]), 2, -2)
  end
  return message
end

local function cleaned_local_reply(text, status)
  local open, close = message_span(text)
  if not open then
    return generic_body(status)
  end
  local message = string.sub(text, open + 1, close - 1)
  return string.sub(text, 1, open) .. cleaned_message(message, status) .. string.sub(text, close)
end

function envoy_on_response(response)
  local headers = response:headers()
  local content_type = headers:get("content-type") or ""
  if string.sub(content_type, 1, 16) == "application/grpc" then
    return  -- the answer to a gRPC caller (refused above): its status is in grpc-*
  end
  local drop = {}
  for name, _ in pairs(headers) do
    if string.sub(name, 1, 5) == "grpc-" then
      drop[#drop + 1] = name
    end
  end
  for _, name in ipairs(drop) do
    headers:remove(name)
  end
  local status = tonumber(headers:get(":status")) or 0
  if status < 400 then
    return
  end
  local is_local = headers:get(LOCAL_REPLY_MARK) ~= nil
  local body = response:body()
  local text = body and body:getBytes(0, body:length()) or ""
  local replacement
  if is_local then
    replacement = cleaned_local_reply(text, status)
  elseif string.find(text, DOMAIN, 1, true) then
    replacement = nil  -- a service's own error: written by the kit, left alone
  else
    replacement = generic_body(status)
  end
  -- Headers fetched before body() may no longer be used.
  headers = response:headers()
  headers:remove(LOCAL_REPLY_MARK)
  if replacement then
    if body then
      body:setBytes(replacement)
    end
    headers:replace("content-type", "application/json")
  end
end
