-- The gateway's body check, after the per-address rate limit (so a client
-- already limited never has a body held). Rendered into the Envoy config by
-- cli/src/billingos_cli/gateway.py, which fills in __MAX_BODY_BYTES__.
--
--   * a GET, DELETE or HEAD with a body is a 400: the body would change the
--     answer (the transcoder reads it) while caches and logs see only the URL;
--   * any other body over the limit is a 413.
--
-- A request that states its Content-Length is judged by it, and its body is
-- never held here: the transcoder then streams it, and its protobuf, which
-- can be several times the JSON, meets no buffer limit. A body without a
-- length (chunked, or HTTP/2 without one) must be read to be measured; it is
-- held up to Envoy's per-request buffer limit (1 MiB, a 413 past it), which
-- then also bounds what transcoding may make of it: to send a list-heavy body
-- close to the limit, send its length.

local MAX_BODY_BYTES = __MAX_BODY_BYTES__

function envoy_on_request(request)
  local headers = request:headers()
  local method = headers:get(":method") or ""
  local bodiless = method == "GET" or method == "DELETE" or method == "HEAD"
  local length = headers:get("content-length")
  local bytes
  if length ~= nil then
    bytes = tonumber(length) or math.huge
  else
    local body = request:body()
    bytes = body and body:length() or 0
  end
  if bodiless and bytes > 0 then
    request:respond({[":status"] = "400"}, "a " .. method .. " request has no body")
  elseif bytes > MAX_BODY_BYTES then
    request:respond(
      {[":status"] = "413"}, "the request body is larger than " .. MAX_BODY_BYTES .. " bytes")
  end
end
