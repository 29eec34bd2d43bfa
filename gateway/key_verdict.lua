-- Runs after the API-key check and the failed-check rate limit. The key check
-- (ext_authz) lets a request with a missing or bad key continue, marked with
-- the failure's reason and message, so that Envoy's local rate limit can count
-- failures per client address first (a 429 once over the limit); here the
-- marked request ends as a 401 in the google.rpc.Status shape.
-- Rendered by cli/src/billingos_cli/gateway.py, which fills in __PLACEHOLDERS__.

local FAILURE_HEADER = "__FAILURE_HEADER__"
local FAILURE_MESSAGE_HEADER = "__FAILURE_MESSAGE_HEADER__"
local REASON_HEADER = "__REASON_HEADER__"

function envoy_on_request(request)
  local headers = request:headers()
  local reason = headers:get(FAILURE_HEADER)
  if reason == nil then
    return
  end
  local message = headers:get(FAILURE_MESSAGE_HEADER) or "API key missing or invalid"
  request:respond(
    {[":status"] = "401", [REASON_HEADER] = reason, ["www-authenticate"] = "Bearer"},
    message)
end
