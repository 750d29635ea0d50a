// Starts GraphiQL on this page. Loaded from the service's own files after React and GraphiQL's
// bundles (see ecg_graphql/web/graphiql.py); it talks only to the page's own URL.
(function () {
  "use strict";

  var DEFAULT_DOCUMENT = [
    "# ecg-graphql. Every file of this page comes from this service: it works offline.",
    "#",
    "# 1. Run Login (the run button asks which operation) and copy its accessToken.",
    "# 2. Open Headers below and put: {\"Authorization\": \"Bearer <accessToken>\"}",
    "# 3. Run Me, then UploadEcg. Ctrl-Enter runs, Ctrl-Space completes.",
    "",
    "mutation Login {",
    "  login(username: \"alice\", password: \"correct-horse-1\") {",
    "    __typename",
    "    ... on AuthPayload { accessToken refreshToken expiresIn user { username role } }",
    "    ... on InvalidCredentialsError { message }",
    "    ... on ValidationError { message fields { field message } }",
    "  }",
    "}",
    "",
    "query Me {",
    "  me { id username role }",
    "}",
    "",
    "mutation UploadEcg {",
    "  uploadEcg(input: {",
    "    id: \"first-ecg\"",
    "    date: \"2024-05-01T09:30:00Z\"",
    "    samplingRate: 500",
    "    leads: [",
    "      {name: \"I\", signal: [12, -4, -9, 0, 7, 15, -3, 2]}",
    "      {name: \"avr\", numberOfSamples: 6, signal: [0, 0, 5, -5, 0, 5]}",
    "    ]",
    "  }) {",
    "    __typename",
    "    ... on Ecg {",
    "      id date samplingRate",
    "      leads { name numberOfSamples }",
    "      insights { lead zeroCrossings }",
    "    }",
    "    ... on EcgAlreadyExistsError { message id }",
    "    ... on ValidationError { message fields { field message } }",
    "  }",
    "}",
    "",
  ].join("\n");

  // The GraphQL endpoint is the URL this page was served from (GET /graphql), without its query.
  var endpoint = window.location.origin + window.location.pathname;

  // No subscriptionUrl: the service speaks no WebSocket protocol, so none is ever opened.
  var fetcher = GraphiQL.createFetcher({ url: endpoint });

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_DOCUMENT,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      // Access tokens stay out of localStorage: the headers pane is empty on every visit.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    }),
  );
})();
