// Bootstraps GraphiQL for package playground. It lives in its own file, not inline in the page, so
// that the Content-Security-Policy allows scripts from 'self' only. The page hands over its
// settings as JSON in the data-config attribute of #graphiql: {endpoint, defaultQuery?}.
(function () {
  'use strict';

  var container = document.getElementById('graphiql');
  var config = JSON.parse(container.getAttribute('data-config'));

  // The endpoint may be a path ("/graphql"): resolve it against the page, and derive the
  // WebSocket URL (graphql-transport-ws) for subscriptions from it.
  var url = new URL(config.endpoint, window.location.href);
  var subscriptionURL = new URL(url.href);
  subscriptionURL.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';

  var props = {
    // Headers typed into the headers editor, such as {"Authorization": "Bearer <token>"}, are sent
    // with every request (and as connection parameters on the WebSocket).
    fetcher: GraphiQL.createFetcher({ url: url.href, subscriptionUrl: subscriptionURL.href }),
    isHeadersEditorEnabled: true,
    // Tokens typed into the headers editor stay in memory, never in localStorage.
    shouldPersistHeaders: false,
  };
  if (config.defaultQuery) {
    props.defaultQuery = config.defaultQuery;
  }

  ReactDOM.createRoot(container).render(React.createElement(GraphiQL, props));
})();
