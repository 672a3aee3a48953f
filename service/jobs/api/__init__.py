"""The jobs API side: request/response schemas, routes, the create service and its checks
(targets, files, local options, results), and the provider push route."""
