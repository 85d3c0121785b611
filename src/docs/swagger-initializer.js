// Starts Swagger UI on waitline's OpenAPI document. Loaded by index.html (no inline script, so a
// strict Content-Security-Policy can be used).
//
// "openapi.json" is relative to the page: /docs loads /openapi.json, and /rubis/docs behind a
// proxy that strips /rubis loads /rubis/openapi.json. Nothing is fetched from anywhere else:
// validatorUrl is null (the default sends the document to an online validator), and
// queryConfigEnabled stays false so a crafted link cannot point the page at another document.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    persistAuthorization: true,
    displayRequestDuration: true,
    validatorUrl: null,
    queryConfigEnabled: false,
  });
});
