// Starts the API explorer on /docs (kept out of the page: the CSP forbids inline script).
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
