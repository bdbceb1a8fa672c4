/** Access logs and trace context with each real proxy; span export over OTLP with Envoy. */
import { envoyDriver } from './drivers/envoy.js';
import { haproxyDriver } from './drivers/haproxy.js';
import { nginxDriver } from './drivers/nginx.js';
import { egressGatewayLogScenario, telemetryScenario } from './scenarios/telemetry.js';

telemetryScenario(envoyDriver);
telemetryScenario(envoyDriver, { tracing: 'http' });
telemetryScenario(envoyDriver, { tracing: 'grpc' });
telemetryScenario(nginxDriver);
telemetryScenario(haproxyDriver);
egressGatewayLogScenario(envoyDriver);
