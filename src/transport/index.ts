// Public surface of Shoal's transport: instance-to-instance request/response and event push.
// Two paths over one handler: multiplexed msgpack frames on long-lived TCP connections
// (`shoal+tcp://`, the fast default) and HTTP/JSON (`http://`, for anything that is not Shoal).
// Imports only src/errors/ below it.
export { DEADLINE_HEADER, type ActionHandler, type CallMeta, type CallOptions, type DrainReport, type EventHandler, type ListeningServer, type TransportClient } from './types.js';
export { TransportErrorCode } from './errors.js';
export { createTransportServer, type TransportServer, type TransportServerOptions } from './server.js';
export { createTransportClient, SchemeRoutingClient, type TransportClientOptions } from './client.js';
export { TcpClient, TCP_DEFAULTS, TCP_SCHEME, type TcpClientOptions } from './tcp/client.js';
export { TcpServer, type TcpServerOptions } from './tcp/server.js';
export { HttpClient, type HttpClientOptions } from './http/client.js';
export { HttpServer, EVENT_PATH_PREFIX, type HttpServerOptions } from './http/server.js';
