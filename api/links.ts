/**
 * OpenAPI links: which response gives the id that another operation takes. A client (or a tool that
 * walks the API, like the contract test's stateful phase) follows them from a created circle to its
 * members, medications, appointments, shifts, messages and documents, and from a page of dead
 * letters to one of them. Kept in one table rather than on each route: they cross route files.
 *
 * DELETE answers have no links: a deleted (cancelled) medication, appointment or shift stays
 * readable, with its status, rather than disappearing.
 */
type Operation = `${'GET' | 'POST' | 'PATCH' | 'DELETE'} /${string}`;

interface Link {
  to: Operation;
  /** Parameter (`path.id`, `query.careCircleId`) → runtime expression. */
  parameters?: Record<string, string>;
  /** Fields merged into the generated body. */
  requestBody?: Record<string, string>;
}

const BODY_ID = '$response.body#/id';

const LINKS: { from: Operation; status: string; links: Record<string, Link> }[] = [
  {
    from: 'POST /v1/care-circles',
    status: '201',
    links: {
      GetCareCircle: { to: 'GET /v1/care-circles/{id}', parameters: { 'path.id': BODY_ID } },
      AddMember: { to: 'POST /v1/care-circles/{id}/members', parameters: { 'path.id': BODY_ID } },
      SendCircleNotification: { to: 'POST /v1/care-circles/{id}/notifications', parameters: { 'path.id': BODY_ID } },
      ListCircleNotifications: { to: 'GET /v1/care-circles/{id}/notifications', parameters: { 'path.id': BODY_ID } },
      SetCreatorPreferences: {
        to: 'PATCH /v1/care-circles/{id}/members/{memberId}',
        parameters: { 'path.id': BODY_ID, 'path.memberId': '$response.body#/memberId' },
      },
      EditCreator: { to: 'PATCH /v1/members/{id}', parameters: { 'path.id': '$response.body#/memberId' } },
      ListMedications: { to: 'GET /v1/medications', parameters: { 'query.careCircleId': BODY_ID } },
      ListAppointments: { to: 'GET /v1/appointments', parameters: { 'query.careCircleId': BODY_ID } },
      ListShifts: { to: 'GET /v1/shifts', parameters: { 'query.careCircleId': BODY_ID } },
      CreateShift: { to: 'POST /v1/shifts', requestBody: { careCircleId: BODY_ID } },
      UploadDocument: { to: 'POST /v1/documents', requestBody: { careCircleId: BODY_ID } },
    },
  },
  {
    from: 'POST /v1/care-circles/{id}/members',
    status: '201',
    links: {
      EditMember: { to: 'PATCH /v1/members/{id}', parameters: { 'path.id': BODY_ID } },
      SetMemberPreferences: {
        to: 'PATCH /v1/care-circles/{id}/members/{memberId}',
        parameters: { 'path.id': '$request.path.id', 'path.memberId': BODY_ID },
      },
      GetAdherence: { to: 'GET /v1/patients/{id}/adherence', parameters: { 'path.id': BODY_ID } },
      ListMemberNotifications: { to: 'GET /v1/notifications', parameters: { 'query.recipientId': BODY_ID } },
      CreateMedication: {
        to: 'POST /v1/medications',
        requestBody: { careCircleId: '$request.path.id', patientId: BODY_ID },
      },
      CreateAppointment: {
        to: 'POST /v1/appointments',
        requestBody: { careCircleId: '$request.path.id', patientId: BODY_ID },
      },
    },
  },
  {
    from: 'POST /v1/medications',
    status: '201',
    links: {
      GetMedication: { to: 'GET /v1/medications/{id}', parameters: { 'path.id': BODY_ID } },
      EditMedication: { to: 'PATCH /v1/medications/{id}', parameters: { 'path.id': BODY_ID } },
      PauseMedication: { to: 'POST /v1/medications/{id}/pause', parameters: { 'path.id': BODY_ID } },
      ResumeMedication: { to: 'POST /v1/medications/{id}/resume', parameters: { 'path.id': BODY_ID } },
      AcknowledgeDose: { to: 'POST /v1/medications/{id}/doses/acknowledge', parameters: { 'path.id': BODY_ID } },
      LogDose: { to: 'POST /v1/medications/{id}/doses', parameters: { 'path.id': BODY_ID } },
      ListDoses: { to: 'GET /v1/medications/{id}/doses', parameters: { 'path.id': BODY_ID } },
      CancelMedication: { to: 'DELETE /v1/medications/{id}', parameters: { 'path.id': BODY_ID } },
    },
  },
  {
    from: 'POST /v1/appointments',
    status: '201',
    links: {
      GetAppointment: { to: 'GET /v1/appointments/{id}', parameters: { 'path.id': BODY_ID } },
      EditAppointment: { to: 'PATCH /v1/appointments/{id}', parameters: { 'path.id': BODY_ID } },
      CancelAppointment: { to: 'DELETE /v1/appointments/{id}', parameters: { 'path.id': BODY_ID } },
    },
  },
  {
    from: 'POST /v1/shifts',
    status: '201',
    links: {
      GetShift: { to: 'GET /v1/shifts/{id}', parameters: { 'path.id': BODY_ID } },
      EditShift: { to: 'PATCH /v1/shifts/{id}', parameters: { 'path.id': BODY_ID } },
      CancelShift: { to: 'DELETE /v1/shifts/{id}', parameters: { 'path.id': BODY_ID } },
    },
  },
  {
    from: 'POST /v1/care-circles/{id}/notifications',
    status: '202',
    links: {
      GetCircleNotification: {
        to: 'GET /v1/care-circles/{id}/notifications/{notificationId}',
        parameters: { 'path.id': '$request.path.id', 'path.notificationId': BODY_ID },
      },
    },
  },
  {
    from: 'POST /v1/documents',
    status: '202',
    links: { GetDocument: { to: 'GET /v1/documents/{id}', parameters: { 'path.id': BODY_ID } } },
  },
  {
    from: 'GET /v1/dead-letters',
    status: '200',
    links: Object.fromEntries(
      (
        [
          ['GetDeadLetter', 'GET /v1/dead-letters/{id}'],
          ['RetryDeadLetter', 'POST /v1/dead-letters/{id}/retry'],
          ['DiscardDeadLetter', 'POST /v1/dead-letters/{id}/discard'],
        ] as const
      ).map(([name, to]) => [name, { to, parameters: { 'path.id': '$response.body#/items/0/id' } }]),
    ),
  },
];

/** `#/paths/~1v1~1medications~1%7Bid%7D/get`: a JSON pointer to the operation, as a URI fragment. */
function operationRef(operation: Operation): string {
  const [method, path] = operation.split(' ') as [string, string];
  const pointer = path.replaceAll('~', '~0').replaceAll('/', '~1').replaceAll('{', '%7B').replaceAll('}', '%7D');
  return `#/paths/${pointer}/${method.toLowerCase()}`;
}

interface Document {
  paths?: Record<string, Record<string, { responses?: Record<string, Record<string, unknown>> }> | undefined>;
}

/** Writes the links into `document` (the API's OpenAPI document); throws if one names no operation. */
export function addLinks<D extends object>(openapi: D): D {
  const document = openapi as Document;
  const find = (operation: Operation) => {
    const [method, path] = operation.split(' ') as [string, string];
    const found = document.paths?.[path]?.[method.toLowerCase()];
    if (!found) throw new Error(`OpenAPI link names ${operation}, which the API does not serve`);
    return found;
  };
  for (const { from, status, links } of LINKS) {
    const response = find(from).responses?.[status];
    if (!response) throw new Error(`OpenAPI link from ${from} ${status}: no such response`);
    response.links = Object.fromEntries(
      Object.entries(links).map(([name, link]) => {
        find(link.to);
        return [
          name,
          {
            operationRef: operationRef(link.to),
            ...(link.parameters ? { parameters: link.parameters } : {}),
            ...(link.requestBody ? { requestBody: link.requestBody } : {}),
          },
        ];
      }),
    );
  }
  return openapi;
}
