-- Argo CD health of a SchedulerInstance (scheduling.rsched.io/v1alpha1), from the conditions the
-- operator writes: Degraded when a person must act or the instance runs on stale secrets,
-- Progressing while it converges, Healthy when every replica is ready.
local hs = {}
local needsAction = {
  InvalidConfig = true, ImageNotSet = true, NameConflict = true, SecretNotFound = true,
  SecretKeyMissing = true, VaultAuthFailed = true, VaultReadFailed = true, VaultUnreachable = true,
  ReconcileError = true, KeyringMissing = true,
}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report"
  return hs
end
if obj.metadata.generation ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < obj.metadata.generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to act on the latest spec"
  return hs
end
local ready, degraded = nil, nil
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then ready = c end
  if c.type == "Degraded" then degraded = c end
end
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = degraded.message
  return hs
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report"
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
elseif needsAction[ready.reason] then
  hs.status = "Degraded"
  hs.message = ready.reason .. ": " .. ready.message
else
  hs.status = "Progressing"
  hs.message = ready.message
end
return hs
