/** Every proxy-agnostic scenario, run with the real Envoy. */
import { envoyDriver } from './drivers/envoy.js';
import { egressScenario } from './scenarios/egress.js';
import { http2Scenario } from './scenarios/http2.js';
import { ingressScenario } from './scenarios/ingress.js';
import { loadBalancingScenario } from './scenarios/load-balancing.js';
import { mtlsScenario } from './scenarios/mtls.js';
import { rotationScenario } from './scenarios/rotation.js';
import { liveRotationScenario } from './scenarios/live-rotation.js';
import { validateScenario } from './scenarios/validate.js';
import { limitsScenario } from './scenarios/limits.js';
import { metricsScenario } from './scenarios/metrics.js';

mtlsScenario(envoyDriver);
egressScenario(envoyDriver);
egressScenario(envoyDriver, { viaGateway: true });
ingressScenario(envoyDriver);
http2Scenario(envoyDriver);
loadBalancingScenario(envoyDriver);
validateScenario(envoyDriver);
limitsScenario(envoyDriver);
rotationScenario(envoyDriver);
liveRotationScenario(envoyDriver);
metricsScenario(envoyDriver);
