/* The API reference: Swagger UI (from the flask-swagger-ui package, served by this node) over
   /openapi.json. Not inline, so the page keeps the strict Content-Security-Policy. The token of
   the panel above, if any, is the one "Try it out" sends. */
"use strict";

(() => {
  let ui = null;
  let authorized = false;

  function authorize(token) {
    if (!ui) return;
    if (token) {
      ui.preauthorizeApiKey("bearer", token);
      authorized = true;
    } else if (authorized) {
      ui.authActions.logout(["bearer"]);
      authorized = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (typeof SwaggerUIBundle !== "function") {
      document.getElementById("docs-loading").textContent = "Swagger UI did not load: the API description is at /openapi.json.";
      return;
    }
    ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      tryItOutEnabled: false,
      persistAuthorization: false,
      validatorUrl: null,
      withCredentials: false,
      requestInterceptor: (request) => {
        request.credentials = "omit";
        return request;
      },
      onComplete: () => authorize(Medtrace.token()),
    });
    Medtrace.onToken(authorize);
  });
})();
