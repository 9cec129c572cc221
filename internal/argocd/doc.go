// Package argocd holds no code: its tests run the Argo CD health check of config/argocd
// (health.lua and its copy in argocd-cm-patch.yaml) the way Argo CD runs resource health Lua,
// against ConnectToken objects shaped like the ones the operator writes.
package argocd
