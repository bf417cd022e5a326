// A small client flow, written as a client team would write it against the types that
// openapi-typescript generates from openapi/courtyard.yaml (src/schema.d.ts, made afresh by
// `npm run check`), with openapi-fetch as the HTTP client:
//
//   1. a resident reports a repair (`POST /v1/repairs`, with an `Idempotency-Key`: 201 Ticket),
//   2. reads it back (`GET /v1/tickets/{ticket_id}`: 200 TicketDetail),
//   3. and, when the server refuses the input, reads the problem's field `errors`
//      (`application/problem+json`, schema `Problem`).
//
// Nothing here runs: `tsc --noEmit` type-checks it, so a change of the document that breaks
// this code (a renamed or removed field, a removed status, a field turned optional or
// nullable, a changed type) fails the check. The `Checks` type at the end pins the parts of
// the contract the flow relies on, exactly, so a drift fails there even where the code alone
// would still compile.

import createClient from "openapi-fetch";
import type { components, operations, paths } from "./schema";

type Schemas = components["schemas"];
export type Ticket = Schemas["Ticket"];
export type TicketDetail = Schemas["TicketDetail"];
export type TicketState = Schemas["TicketState"];
export type NewRepair = Schemas["NewRepair"];
export type Problem = Schemas["Problem"];
export type FieldError = Schemas["FieldError"];

/** A client for one caller (a resident's or a staff member's bearer token). */
export function courtyardClient(baseUrl: string, accessToken: string) {
  return createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${accessToken}` },
  });
}
export type CourtyardClient = ReturnType<typeof courtyardClient>;

/** An error answer of the API, as its RFC 7807 problem document. */
export class ApiProblem extends Error {
  readonly problem: Problem;
  readonly status: number;

  constructor(problem: Problem, status: number) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
    this.name = "ApiProblem";
    this.problem = problem;
    this.status = status;
  }

  /** `/problems/validation` and the like: a stable identifier to branch on. */
  get type(): string {
    return this.problem.type;
  }
}

/** (1) Report a repair for one of the resident's households; retry-safe with `idempotencyKey`. */
export async function reportRepair(
  client: CourtyardClient,
  householdId: string,
  description: string,
  idempotencyKey: string,
): Promise<Ticket> {
  // Typed on its own so that an excess (e.g. renamed) property is an error too.
  const body: NewRepair = {
    household_id: householdId,
    category: "water",
    urgency: "emergency",
    description,
  };
  const { data, error, response } = await client.POST("/v1/repairs", {
    params: { header: { "Idempotency-Key": idempotencyKey } },
    body,
  });
  if (error !== undefined) {
    assertType<Equal<typeof error, Problem>>();
    throw new ApiProblem(error, response.status);
  }
  assertType<Equal<typeof data, Ticket>>();
  return data;
}

/** (2) Read a ticket back, with its people, SLA clocks, history and photos. */
export async function getTicket(client: CourtyardClient, ticketId: string): Promise<TicketDetail> {
  const { data, error, response } = await client.GET("/v1/tickets/{ticket_id}", {
    params: { path: { ticket_id: ticketId } },
  });
  if (error !== undefined) {
    assertType<Equal<typeof error, Problem>>();
    throw new ApiProblem(error, response.status);
  }
  assertType<Equal<typeof data, TicketDetail>>();
  return data;
}

/** (3) A problem's field errors, by field as named in the request (`description`, `rows[3].area_m2`). */
export function fieldErrors(problem: Problem): Map<string, string[]> {
  const byField = new Map<string, string[]>();
  // `errors` is required and never null: empty, not absent, when no field is at fault.
  for (const { field, message, row } of problem.errors) {
    const where = row === undefined ? field : `${field} (row ${row})`;
    const messages = byField.get(where) ?? [];
    messages.push(message);
    byField.set(where, messages);
  }
  return byField;
}

/** Labels for every ticket state: a state added to the document must be labelled here. */
export const stateLabels: Record<TicketState, string> = {
  submitted: "Reported",
  dispatched: "Dispatched",
  accepted: "Accepted",
  on_site: "On site",
  completed: "Completed",
  awaiting_callback: "Awaiting callback",
  closed: "Closed",
  cancelled: "Cancelled",
  reopened: "Reopened",
};

export type FlowResult =
  | { kind: "reported"; ticketId: string; state: string; summary: string; clocks: number }
  | { kind: "refused"; status: number; type: string; fields: Map<string, string[]> };

/** The whole flow: report, read back; a refusal comes back as the fields at fault. */
export async function runFlow(
  client: CourtyardClient,
  householdId: string,
  description: string,
): Promise<FlowResult> {
  try {
    const ticket = await reportRepair(client, householdId, description, crypto.randomUUID());
    const detail = await getTicket(client, ticket.id);
    const read = detail.ticket;
    const when = new Date(read.created_at).toISOString();
    const summary = `${read.kind} ${read.category}/${read.urgency ?? "-"} in ${read.community_id} at ${when}: ${read.description}`;
    return {
      kind: "reported",
      ticketId: read.id,
      state: stateLabels[read.state],
      summary,
      clocks: detail.clocks.length,
    };
  } catch (e) {
    if (e instanceof ApiProblem) {
      return { kind: "refused", status: e.status, type: e.type, fields: fieldErrors(e.problem) };
    }
    throw e;
  }
}

// ---- compile-time checks of the contract ------------------------------------------------

/** Exactly equal types (not mere assignability: `string` is not `string | null`). */
export type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export type Expect<T extends true> = T;
/** Whether `K` is a required (not optional) property of `T`. */
export type IsRequired<T, K extends keyof T> = {} extends Pick<T, K> ? false : true;

/** Compile-time only: fails to type-check unless `T` is `true`. */
function assertType<_T extends true>(): void {}

type CreateRepair = operations["create_repair"];
type GetTicket = operations["get_ticket"];
/** The body of one response, whatever its media type. */
type BodyOf<R> = R extends { content: infer C } ? C[keyof C] : never;

export type Checks = [
  // Ticket: a required, non-null string id, and the fields the flow reads.
  Expect<Equal<Ticket["id"], string>>,
  Expect<IsRequired<Ticket, "id">>,
  Expect<IsRequired<Ticket, "state">>,
  Expect<IsRequired<Ticket, "created_at">>,
  Expect<Equal<Ticket["description"], string>>,
  Expect<Equal<Ticket["created_at"], string>>,
  Expect<Equal<TicketDetail["ticket"], Ticket>>,

  // Problem: every member required and non-null; `errors` a (possibly empty) array.
  Expect<Equal<Problem["type"], string>>,
  Expect<Equal<Problem["title"], string>>,
  Expect<Equal<Problem["status"], number>>,
  Expect<Equal<Problem["detail"], string>>,
  Expect<Equal<Problem["errors"], FieldError[]>>,
  Expect<IsRequired<Problem, "type" | "title" | "status" | "detail" | "errors">>,
  Expect<Equal<FieldError["field"], string>>,
  Expect<Equal<FieldError["message"], string>>,
  Expect<IsRequired<FieldError, "field" | "message">>,

  // POST /v1/repairs: the Idempotency-Key header, the body, 201 with the ticket, 422 with a problem.
  Expect<Equal<NonNullable<CreateRepair["parameters"]["header"]>, { "Idempotency-Key"?: string }>>,
  Expect<IsRequired<NewRepair, "category" | "urgency" | "description">>,
  Expect<Equal<NewRepair["household_id"], string | undefined>>,
  Expect<Equal<BodyOf<CreateRepair["responses"][201]>, Ticket>>,
  Expect<Equal<BodyOf<CreateRepair["responses"][422]>, Problem>>,
  Expect<Equal<BodyOf<CreateRepair["responses"][409]>, Problem>>,
  Expect<Equal<CreateRepair["responses"][422]["content"], { "application/problem+json": Problem }>>,

  // GET /v1/tickets/{ticket_id}: 200 with the detail, 404 with a problem.
  Expect<Equal<GetTicket["parameters"]["path"], { ticket_id: string }>>,
  Expect<Equal<BodyOf<GetTicket["responses"][200]>, TicketDetail>>,
  Expect<Equal<BodyOf<GetTicket["responses"][404]>, Problem>>,
];
