/** Every proxy-agnostic scenario, run with the real haproxy (the same scenarios as envoy.test.ts). */
import { haproxyDriver } from './drivers/haproxy.js';
import { retryScenario, subjectIdentityScenario } from './drivers/nginx.js';
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

mtlsScenario(haproxyDriver);
egressScenario(haproxyDriver);
ingressScenario(haproxyDriver);
http2Scenario(haproxyDriver);
loadBalancingScenario(haproxyDriver);
validateScenario(haproxyDriver);
limitsScenario(haproxyDriver);
rotationScenario(haproxyDriver);
liveRotationScenario(haproxyDriver);
subjectIdentityScenario(haproxyDriver);
retryScenario(haproxyDriver);
metricsScenario(haproxyDriver);
