-- The gateway's first filter: what may enter, and what every error reply says.
-- Rendered into the Envoy config by cli/src/billingos_cli/gateway.py, which
-- fills in the __PLACEHOLDERS__.
--
-- On the way in:
--   * a path (with its query) longer than the limit is a 414;
--   * gRPC sent to the REST port is a 415 (services speak gRPC inside only);
--   * every header not on the allow-list is dropped: client-sent grpc-*,
--     *-bin, te, internal x-billingos-* and anything else never reaches ext_authz
--     or a service;
--   * the path the call was made with (without its query) is passed on, so the
--     service can refuse a query or body that contradicts it.
-- On the way out, for an error:
--   * a body in our google.rpc.Status shape (ErrorInfo with our domain) keeps
--     its meaning, with proto type names and echoed request bytes cut out;
--   * anything else (a reply no BillingOS code wrote) is replaced by a generic
--     Status for its HTTP code, so no internal class, type, header or host shows.

local MAX_PATH_BYTES = __MAX_PATH_BYTES__
local ALLOWED = __ALLOWED_HEADERS__
local REST_PATH_HEADER = "__REST_PATH_HEADER__"
local DOMAIN = '"domain":"__ERROR_DOMAIN__"'

local GENERIC = {
  [400] = {3, "INVALID_REQUEST", "the request is not valid"},
  [401] = {16, "UNAUTHENTICATED", "an API key is required"},
  [403] = {7, "PERMISSION_DENIED", "this API key may not do this"},
  [404] = {5, "METHOD_NOT_FOUND", "no such method or resource: check the URL and the HTTP method"},
  [405] = {12, "METHOD_NOT_ALLOWED", "this HTTP method is not allowed here"},
  [408] = {4, "REQUEST_TIMEOUT", "the request took too long to arrive"},
  [409] = {10, "ABORTED", "a concurrent change won; retry the call"},
  [413] = {3, "REQUEST_TOO_LARGE", "the request body is too large"},
  [414] = {3, "URI_TOO_LONG", "the URL is too long"},
  [415] = {3, "UNSUPPORTED_MEDIA_TYPE", "send JSON (application/json)"},
  [429] = {8, "RATE_LIMITED", "too many requests; retry later"},
  [431] = {3, "HEADERS_TOO_LARGE", "the request headers are too large"},
  [499] = {1, "CANCELLED", "the request was cancelled"},
  [500] = {13, "INTERNAL", "internal error; quote the x-request-id header when reporting it"},
  [501] = {12, "NOT_IMPLEMENTED", "not implemented"},
  [502] = {14, "UNAVAILABLE", "the service is unavailable; retry later"},
  [503] = {14, "UNAVAILABLE", "the service is unavailable; retry later"},
  [504] = {4, "DEADLINE_EXCEEDED", "the service did not answer in time; retry later"},
}

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
    -- Envoy answers a gRPC request in gRPC (a 200 with grpc-status); this
    -- caller gets the REST answer every other one gets.
    headers:replace("content-type", "application/json")
    request:respond(
      {[":status"] = "415"},
      "this port serves REST/JSON; gRPC callers talk to the services directly")
    return
  end
  local drop = {}
  for name, _ in pairs(headers) do
    if string.sub(name, 1, 1) ~= ":" and not ALLOWED[name] then
      drop[#drop + 1] = name
    end
  end
  for _, name in ipairs(drop) do
    headers:remove(name)
  end
  local query_at = string.find(path, "?", 1, true)
  headers:replace(REST_PATH_HEADER, query_at and string.sub(path, 1, query_at - 1) or path)
end

local function json_string(text)
  local escaped = string.gsub(text, '[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. escaped .. '"'
end

local function generic_body(status)
  local known = GENERIC[status] or {2, "UNKNOWN", "the request failed"}
  return '{"code":' .. known[1] .. ',"message":' .. json_string(known[3]) ..
    ',"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"' ..
    known[2] .. '","domain":"__ERROR_DOMAIN__"}]}'
end

local function is_utf8(text)
  local i, n = 1, #text
  while i <= n do
    local c = string.byte(text, i)
    local extra
    if c < 0x80 then extra = 0
    elseif c >= 0xC2 and c <= 0xDF then extra = 1
    elseif c >= 0xE0 and c <= 0xEF then extra = 2
    elseif c >= 0xF0 and c <= 0xF4 then extra = 3
    else return false end
    for k = 1, extra do
      local follow = string.byte(text, i + k)
      if not follow or follow < 0x80 or follow > 0xBF then return false end
    end
    i = i + extra + 1
  end
  return true
end

-- The transcoder's words (JSON-escaped, as they sit in the body), made fit to
-- show: no proto type names, no echo of the request's bytes.
local function cleaned_message(message, status)
  -- Everything from the first line break on is an echo of the input and a caret.
  message = string.gsub(message, "\\n.*$", "")
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
    return (GENERIC[status] or {2, "UNKNOWN", "the request failed"})[3]
  end
  return message
end

function envoy_on_response(response)
  local status = tonumber(response:headers():get(":status")) or 0
  if status < 400 then
    return
  end
  local body = response:body()
  local text = body and body:getBytes(0, body:length()) or ""
  local replacement
  if string.find(text, DOMAIN, 1, true) then
    local cleaned = string.gsub(text, '"message":"(.-[^\\])"', function(message)
      return '"message":"' .. cleaned_message(message, status) .. '"'
    end, 1)
    replacement = string.gsub(cleaned, '"message":""', '"message":' ..
      json_string(cleaned_message("", status)), 1)
  else
    replacement = generic_body(status)
  end
  -- Headers fetched before body() may no longer be used.
  local headers = response:headers()
  if body then
    body:setBytes(replacement)
  end
  headers:replace("content-type", "application/json")
end
