// Package layout holds no code: its tests keep docs/architecture.md, the map of smp's
// packages, true. Every package of the module has an import rule here listing exactly the
// packages of the module it imports; TestImportRules checks the rules against the code
// (and the edges the layering forbids: k8s.io outside platform/kube, experiment outside
// cmd/smp, presentation in a package that measures), and TestArchitecturePage checks
// them against the page's table. A forbidden or unrecorded edge fails CI instead of
// creeping in. TestCommandFunctionsAreShort keeps cmd/smp thin: no function of it over
// 60 lines.
package layout
