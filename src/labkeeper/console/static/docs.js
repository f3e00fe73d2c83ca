// Starts Swagger UI on the OpenAPI document named by the page (no inline script: the CSP forbids it).
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  const node = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: node.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [window.SwaggerUIBundle.presets.apis],
  });
});
