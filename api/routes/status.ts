import { ServiceStatus } from '../../domain/service-status';
import type { ServiceStatusService } from '../../services/service-status';
import { AUTHENTICATED, createRoute, guarded, problems, router } from '../openapi';

export const statusRouteDefs = {
  show: createRoute({
    method: 'get', path: '/', summary: 'Is a worker polling, do NetBox and proxbox-api answer, which capabilities, which gates are open', ...guarded(['view']),
    responses: {
      200: { description: 'The service status (answers within a few seconds whatever is down)', content: { 'application/json': { schema: ServiceStatus } } },
      ...problems(...AUTHENTICATED, 403),
    },
  }),
};

export function statusRoutes(service: ServiceStatusService) {
  return router().openapi(statusRouteDefs.show, async (c) => c.json(await service.status(), 200));
}
