-- Argo CD health of a KeyRotationPolicy (scheduling.rsched.io/v1alpha1): Healthy when its keys
-- are in place and the next rotation is scheduled, Suspended when scheduled rotation is off,
-- Progressing during a rotation and while the first sync settles (its instance and keyring may
-- not exist yet), Degraded when a rotation failed or the spec needs a person.
local hs = {}
local needsAction = {
  RotationFailed = true, ReconcileError = true, UnknownTimeZone = true, InvalidSchedule = true,
  StorageNeedsVault = true, TargetConflict = true, KeyringInvalid = true,
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
local ready, rotating = nil, nil
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then ready = c end
  if c.type == "Rotating" then rotating = c end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report"
elseif ready.status ~= "True" then
  if needsAction[ready.reason] then
    hs.status = "Degraded"
    hs.message = ready.reason .. ": " .. ready.message
  else
    hs.status = "Progressing"
    hs.message = ready.message
  end
elseif rotating ~= nil and rotating.status == "True" then
  hs.status = "Progressing"
  hs.message = rotating.message
elseif ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = ready.message
else
  hs.status = "Healthy"
  hs.message = ready.message
end
return hs
