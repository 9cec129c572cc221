-- Argo CD health check for connect.tokenop.dev/ConnectToken.
-- Argo CD runs it with only the base, table and (safe) os Lua libraries: no string library.
-- Keep it identical to the copy in argocd-cm-patch.yaml (a Go test in internal/argocd checks).
local hs = {}

local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end

local ready = nil
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    end
  end
end

-- The generation the Ready condition describes. The operator stamps it on every status write,
-- also when status.observedGeneration stays behind (it only moves on a reconcile that issued
-- or kept a token), so a failure for the current spec reads as Degraded, not Progressing.
-- status.observedGeneration is the fallback for a condition without observedGeneration.
local observed = 0
if ready ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration > 0 then
  observed = ready.observedGeneration
elseif obj.status ~= nil and obj.status.observedGeneration ~= nil then
  observed = obj.status.observedGeneration
end
local current = ready ~= nil and observed >= generation

local function describe(condition)
  local reason = condition.reason or ""
  local message = condition.message or ""
  if message == "" then
    return reason
  end
  return reason .. ": " .. message
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  if current then
    hs.message = "spec.suspend is true; " .. describe(ready)
  else
    hs.message = "spec.suspend is true: no token requests are made"
  end
  return hs
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report the Ready condition"
  return hs
end

if not current then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation .. " (observed " .. observed .. ")"
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end

if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready)
return hs
