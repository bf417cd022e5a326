//! The tickets endpoints: one handler per operation, each checking role and ownership
//! before it calls the lifecycle.

use super::*;

/// The tickets endpoints.
pub struct TicketsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Tickets")]
impl TicketsApi {
    /// Report a repair
    ///
    /// Residents report for one of their households (or a public area of their
    /// community); the front desk registers phone and walk-in reports for a resident. SLA
    /// clocks start now; the household's butler is told. Send an `Idempotency-Key` to make
    /// retries safe.
    #[oai(path = "/repairs", method = "post", operation_id = "create_repair")]
    async fn create_repair(
        &self,
        auth: BearerAuth,
        body: Json<NewRepair>,
        /// Makes a retried request return the first one's ticket instead of a second one.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 100))]
        idempotency_key: Header<Option<String>>,
    ) -> ApiResult<TicketCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let claim = match idempotency::start::<Ticket>(
            &self.state,
            &auth.0,
            "POST /v1/repairs",
            "create_repair",
            idempotency_key.0.as_deref(),
            &body.0.to_json_string(),
        )
        .await?
        {
            Start::Replay(saved) => return Ok(TicketCreated::Created(Json(saved))),
            Start::Proceed(claim) => claim,
        };
        let reported = self.report_repair(&auth.0, &body, claim.as_ref()).await;
        let created = idempotency::finish(&self.state, claim.as_ref(), reported).await?;
        Ok(TicketCreated::Created(Json(created)))
    }

    /// File a complaint
    ///
    /// Routed to the household's butler, who answers the front desk within 4 hours; the
    /// resident gets a reply within 4 working days; neighbour-behaviour complaints need
    /// staff at the door within 15 minutes. Send an `Idempotency-Key` to make retries safe.
    #[oai(
        path = "/complaints",
        method = "post",
        operation_id = "create_complaint"
    )]
    async fn create_complaint(
        &self,
        auth: BearerAuth,
        body: Json<NewComplaint>,
        /// Makes a retried request return the first one's ticket instead of a second one.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 100))]
        idempotency_key: Header<Option<String>>,
    ) -> ApiResult<TicketCreated, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let claim = match idempotency::start::<Ticket>(
            &self.state,
            &auth.0,
            "POST /v1/complaints",
            "create_complaint",
            idempotency_key.0.as_deref(),
            &body.0.to_json_string(),
        )
        .await?
        {
            Start::Replay(saved) => return Ok(TicketCreated::Created(Json(saved))),
            Start::Proceed(claim) => claim,
        };
        let filed = self.file_complaint(&auth.0, &body, claim.as_ref()).await;
        let created = idempotency::finish(&self.state, claim.as_ref(), filed).await?;
        Ok(TicketCreated::Created(Json(created)))
    }

    /// List tickets
    ///
    /// Residents: their own and their households' tickets. Front desk, supervisors and
    /// admins: their communities' tickets, filtered. Butlers: their households' tickets and
    /// those assigned to them. Field staff: those assigned to them. Newest first.
    #[oai(path = "/tickets", method = "get", operation_id = "list_tickets")]
    #[allow(clippy::too_many_arguments)]
    async fn list_tickets(
        &self,
        auth: BearerAuth,
        /// Only this community.
        community_id: Query<Option<Uuid>>,
        /// repair or complaint.
        kind: Query<Option<Vocab<TicketKind>>>,
        /// Only tickets in this state.
        state: Query<Option<Vocab<TicketState>>>,
        /// Only tickets assigned to this staff member.
        assignee_id: Query<Option<Uuid>>,
        /// Only this household's tickets.
        household_id: Query<Option<Uuid>>,
        /// Only tickets with (true) or without (false) a breached SLA clock.
        breached: Query<Option<bool>>,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<TicketPage>, { AUTHED | VALIDATION }> {
        let filter = ListFilter {
            community_id: *community_id,
            kind: kind.as_ref().map(|k| k.get("kind")).transpose()?,
            state: state.as_ref().map(|s| s.get("state")).transpose()?,
            assignee_id: *assignee_id,
            household_id: *household_id,
            breached: *breached,
        };
        let mut condition = Condition::all();
        match &auth.0 {
            Principal::Resident(r) => {
                // One statement: PostgreSQL evaluates `ARRAY(subquery)` once and combines
                // the resident and household indexes; `household_id IN (subquery) OR ...`
                // would make it scan every ticket.
                let households = match self.state.db.get_database_backend() {
                    sea_orm::DbBackend::Postgres => Expr::cust_with_values(
                        r#""tickets"."household_id" = ANY(ARRAY(SELECT "household_id" FROM "household_members" WHERE "resident_id" = $1))"#,
                        [r.id],
                    ),
                    _ => Expr::cust_with_values(
                        r#""tickets"."household_id" IN (SELECT "household_id" FROM "household_members" WHERE "resident_id" = ?)"#,
                        [r.id],
                    ),
                };
                condition = condition.add(
                    Condition::any()
                        .add(ticket::Column::ResidentId.eq(r.id))
                        .add(households),
                );
            }
            Principal::Staff(s) => {
                condition = condition.add(ticket::Column::CompanyId.eq(s.company_id));
                if let Some(communities) = s.community_filter() {
                    condition =
                        condition.add(ticket::Column::CommunityId.is_in(communities.to_vec()));
                }
                match s.role {
                    StaffRole::Admin | StaffRole::Supervisor | StaffRole::FrontDesk => {}
                    StaffRole::Butler => {
                        condition = condition.add(
                            Condition::any()
                                .add(ticket::Column::ButlerId.eq(s.id))
                                .add(ticket::Column::AssigneeId.eq(s.id)),
                        );
                    }
                    _ => condition = condition.add(ticket::Column::AssigneeId.eq(s.id)),
                }
            }
        }
        if let Some(id) = filter.community_id {
            condition = condition.add(ticket::Column::CommunityId.eq(id));
        }
        if let Some(kind) = filter.kind {
            condition = condition.add(ticket::Column::Kind.eq(kind.as_str()));
        }
        if let Some(state) = filter.state {
            condition = condition.add(ticket::Column::State.eq(state.as_str()));
        }
        if let Some(id) = filter.assignee_id {
            condition = condition.add(ticket::Column::AssigneeId.eq(id));
        }
        if let Some(id) = filter.household_id {
            condition = condition.add(ticket::Column::HouseholdId.eq(id));
        }
        if let Some(breached) = filter.breached {
            condition = condition.add(ticket::Column::Breached.eq(breached));
        }
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as u64;
        if let Some(before) = decode_cursor(cursor.as_deref())? {
            condition = condition.add(ticket::Column::Id.lt(before));
        }
        let select = ticket::Entity::find().filter(condition);
        let mut rows = list_page(&self.state.db, select, limit + 1).await?;
        let next_cursor = cut_page(&mut rows, limit as usize, |t| t.id);
        let items = rows.into_iter().map(ticket_view).collect();
        Ok(Json(TicketPage { items, next_cursor }))
    }

    /// A staff member's task list
    ///
    /// Open tickets assigned to the caller (and, for butlers, their households' open
    /// tickets), the soonest SLA deadline first (tickets with no running clock last), paged:
    /// pass `next_cursor` as `cursor` for the tickets due after the last one seen.
    #[oai(path = "/me/tasks", method = "get", operation_id = "list_my_tasks")]
    async fn list_my_tasks(
        &self,
        auth: BearerAuth,
        /// Cursor from the previous page.
        #[oai(validator(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
        cursor: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<TaskPage>, { AUTHED | VALIDATION }> {
        let staff = auth.0.staff(ALL_STAFF)?;
        let open: Vec<&str> = TicketState::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| s.as_str())
            .collect();
        let mine = Condition::any()
            .add(ticket::Column::AssigneeId.eq(staff.id))
            .add(ticket::Column::ButlerId.eq(staff.id));
        // The order is the SLA clocks' (computed, not stored): sorted here over the
        // caller's open tickets, a page cut after the cursor's place in it.
        let rows = ticket::Entity::find()
            .filter(mine.clone())
            .filter(ticket::Column::State.is_in(open))
            .order_by_asc(ticket::Column::Id)
            .limit(TASKS_AT_MOST)
            .all(&self.state.db)
            .await?;
        let due_order = |t: &Ticket| (t.next_due_at.is_none(), t.next_due_at, t.created_at, t.id);
        let mut items: Vec<Ticket> = rows.into_iter().map(ticket_view).collect();
        items.sort_by_key(due_order);
        if let Some(after) = decode_cursor(cursor.as_deref())? {
            // The cursor's ticket may have closed since: its place is where it would sort.
            let anchor = ticket::Entity::find_by_id(after)
                .filter(mine)
                .one(&self.state.db)
                .await?
                .ok_or_else(|| ApiError::invalid("cursor", "not a cursor from a previous page"))?;
            let anchor = due_order(&ticket_view(anchor));
            items.retain(|t| due_order(t) > anchor);
        }
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize;
        let next_cursor = cut_page(&mut items, limit, |t| t.id);
        Ok(Json(TaskPage { items, next_cursor }))
    }

    /// Get a ticket
    ///
    /// With the people on it, its SLA clocks, history and photos.
    #[oai(
        path = "/tickets/:ticket_id",
        method = "get",
        operation_id = "get_ticket"
    )]
    async fn get_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND }> {
        let (row, _) = load(&self.state, &auth.0, *ticket_id).await?;
        // The detail carries the resident's name and contact.
        if let Some(staff) = auth.0.as_staff()
            && row.resident_id.is_some()
        {
            let entry = ticket_entry(staff.audit("get_ticket", "ticket"), &row);
            self.state.reads.record(entry).await;
        }
        Ok(Json(detail(&self.state, row).await?))
    }

    /// Dispatch a ticket
    ///
    /// To a department and a staff member, by hand or (fields absent) by the community's
    /// category rules and the least busy staff member; the assignee and the household's
    /// butler are told at the same moment, and the resident sees it.
    #[oai(
        path = "/tickets/:ticket_id/dispatch",
        method = "post",
        operation_id = "dispatch_ticket"
    )]
    async fn dispatch_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<DispatchBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let row = self
            .assign(&auth.0, *ticket_id, Action::Dispatch, body.0)
            .await?;
        Ok(Json(detail(&self.state, row).await?))
    }

    /// Reassign a ticket
    ///
    /// To another staff member (who must accept it again).
    #[oai(
        path = "/tickets/:ticket_id/reassign",
        method = "post",
        operation_id = "reassign_ticket"
    )]
    async fn reassign_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<DispatchBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let row = self
            .assign(&auth.0, *ticket_id, Action::Reassign, body.0)
            .await?;
        Ok(Json(detail(&self.state, row).await?))
    }

    /// Accept a work order
    #[oai(
        path = "/tickets/:ticket_id/accept",
        method = "post",
        operation_id = "accept_ticket"
    )]
    async fn accept_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT }> {
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::Accept,
            None,
            |_, _| {},
        )
        .await?;
        Ok(Json(detail(&self.state, row).await?))
    }

    /// Arrive on site
    ///
    /// Stops the on-site clock; the resident is told.
    #[oai(
        path = "/tickets/:ticket_id/arrive",
        method = "post",
        operation_id = "arrive_ticket"
    )]
    async fn arrive_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT }> {
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::Arrive,
            None,
            |t, now| t.arrived_at = Set(Some(now)),
        )
        .await?;
        Ok(Json(detail(&self.state, row).await?))
    }

    /// State the price of paid work
    ///
    /// Before work starts; the resident accepts or declines it in the app. A paid ticket
    /// cannot complete without an accepted price.
    #[oai(
        path = "/tickets/:ticket_id/price",
        method = "post",
        operation_id = "price_ticket"
    )]
    async fn price_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<PriceBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let fen = courtyard_domain::tickets::Fen::parse(body.fen).field("fen")?;
        let note = body.note.clone();
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::Price,
            body.note.clone(),
            move |t, _| {
                t.price_fen = Set(Some(fen.fen()));
                t.price_status = Set(Some(PriceStatus::Proposed.as_str().into()));
                t.price_note = Set(note);
            },
        )
        .await?;
        Ok(Json(detail(&self.state, row).await?))
    }

    /// Accept or decline the price
    #[oai(
        path = "/tickets/:ticket_id/price-answer",
        method = "post",
        operation_id = "answer_price"
    )]
    async fn answer_price(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<PriceAnswer>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT }> {
        let status = if body.accept {
            PriceStatus::Accepted
        } else {
            PriceStatus::Declined
        };
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::AnswerPrice,
            None,
            move |t, _| t.price_status = Set(Some(status.as_str().into())),
        )
        .await?;
        Ok(Json(detail(&self.state, row).await?))
    }

    /// Answer the front desk about a complaint
    ///
    /// The butler's answer, due within 4 hours of the complaint.
    #[oai(
        path = "/tickets/:ticket_id/answer",
        method = "post",
        operation_id = "answer_complaint"
    )]
    async fn answer_complaint(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<AnswerBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        if body.note.trim().is_empty() {
            return Err(ApiError::invalid("note", "the answer says what was found").into());
        }
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::Answer,
            Some(body.0.note),
            |t, now| t.answered_at = Set(Some(now)),
        )
        .await?;
        Ok(Json(detail(&self.state, row).await?))
    }

    /// Complete the work
    ///
    /// Repairs: on site, with an accepted price when paid. Complaints: the reply to the
    /// resident. The resident is asked to rate it; after 48 hours without a rating it goes
    /// on the front desk's callback list.
    #[oai(
        path = "/tickets/:ticket_id/complete",
        method = "post",
        operation_id = "complete_ticket"
    )]
    async fn complete_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<NoteBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT }> {
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::Complete,
            body.0.note,
            |t, now| t.completed_at = Set(Some(now)),
        )
        .await?;
        Ok(Json(detail(&self.state, row).await?))
    }

    /// Rate the work
    ///
    /// 1–5 stars and satisfied or not. Unsatisfied sends the ticket back to the same
    /// department with the rework count increased.
    #[oai(
        path = "/tickets/:ticket_id/rating",
        method = "post",
        operation_id = "rate_ticket"
    )]
    async fn rate_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<RatingBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let stars = Rating::parse(body.stars).field("stars")?;
        let row = rate(
            &self.state,
            &auth.0,
            *ticket_id,
            stars,
            body.satisfied,
            body.0.comment,
            "app",
        )
        .await?;
        Ok(Json(detail(&self.state, row).await?))
    }

    /// Record a phone callback (回访)
    ///
    /// The front desk's callback for a ticket the resident did not rate in the app. Not
    /// reached: the attempt is recorded and the ticket stays on the list. Callbacks are
    /// never filled in automatically.
    #[oai(
        path = "/tickets/:ticket_id/callback",
        method = "post",
        operation_id = "record_callback"
    )]
    async fn record_callback(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<CallbackBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT | VALIDATION }> {
        let row = if body.reached {
            let Some(stars) = body.stars else {
                return Err(
                    ApiError::invalid("stars", "a reached callback records the rating").into(),
                );
            };
            let Some(satisfied) = body.satisfied else {
                return Err(ApiError::invalid(
                    "satisfied",
                    "a reached callback records whether the resident is satisfied",
                )
                .into());
            };
            let stars = Rating::parse(stars).field("stars")?;
            rate(
                &self.state,
                &auth.0,
                *ticket_id,
                stars,
                satisfied,
                body.0.comment,
                "phone",
            )
            .await?
        } else {
            act(
                &self.state,
                &auth.0,
                *ticket_id,
                Action::CallbackUnreached,
                body.0.comment,
                |_, _| {},
            )
            .await?
        };
        Ok(Json(detail(&self.state, row).await?))
    }

    /// Cancel a ticket
    ///
    /// The resident (or the front desk for them) withdraws it before work starts.
    #[oai(
        path = "/tickets/:ticket_id/cancel",
        method = "post",
        operation_id = "cancel_ticket"
    )]
    async fn cancel_ticket(
        &self,
        auth: BearerAuth,
        ticket_id: Path<Uuid>,
        body: Json<NoteBody>,
    ) -> ApiResult<Json<TicketDetail>, { AUTHED | NOT_FOUND | CONFLICT }> {
        let row = act(
            &self.state,
            &auth.0,
            *ticket_id,
            Action::Cancel,
            body.0.note,
            |t, now| t.cancelled_at = Set(Some(now)),
        )
        .await?;
        Ok(Json(detail(&self.state, row).await?))
    }
}

impl TicketsApi {
    /// Reports a repair (the work behind `create_repair`, after its key is claimed).
    async fn report_repair(
        &self,
        principal: &Principal,
        body: &NewRepair,
        claim: Option<&Claim>,
    ) -> Result<Ticket, ApiError> {
        let category = body.category.get("category")?;
        let urgency = body.urgency.get("urgency")?;
        let now = self.state.clock.now();
        if let (Some(from), Some(to)) = (body.preferred_from, body.preferred_to)
            && to <= from
        {
            return Err(ApiError::invalid(
                "preferred_to",
                "the window ends after it starts",
            ));
        }
        if body.preferred_to.is_some_and(|to| to <= now) {
            return Err(ApiError::invalid(
                "preferred_to",
                "the window is in the past",
            ));
        }
        let reporter = Reporter::resolve(
            &self.state,
            principal,
            body.household_id,
            body.community_id,
            body.resident_id,
            body.source.as_ref(),
        )
        .await?;
        if reporter.household.is_none()
            && body.location.as_deref().is_none_or(|l| l.trim().is_empty())
        {
            return Err(ApiError::invalid(
                "location",
                "a public-area repair says where",
            ));
        }
        let subject = Subject::Repair {
            urgency,
            public_area: reporter.household.is_none(),
            agreed_by: body.preferred_to,
        };
        let row = reporter.new_ticket(
            TicketKind::Repair,
            category.as_str(),
            &body.description,
            now,
        );
        let row = ticket::Model {
            urgency: Some(urgency.as_str().into()),
            location: body.location.as_ref().map(|l| l.trim().to_owned()),
            preferred_from: body.preferred_from,
            preferred_to: body.preferred_to,
            ..row
        };
        create(&self.state, principal, claim, &reporter, row, subject).await
    }

    /// Files a complaint (the work behind `create_complaint`, after its key is claimed).
    async fn file_complaint(
        &self,
        principal: &Principal,
        body: &NewComplaint,
        claim: Option<&Claim>,
    ) -> Result<Ticket, ApiError> {
        let category = body.category.get("category")?;
        let severity = match &body.severity {
            Some(s) => s.get("severity")?,
            None => Severity::Ordinary,
        };
        let reporter = Reporter::resolve(
            &self.state,
            principal,
            Some(body.household_id),
            None,
            body.resident_id,
            body.source.as_ref(),
        )
        .await?;
        let now = self.state.clock.now();
        let mut row = reporter.new_ticket(
            TicketKind::Complaint,
            category.as_str(),
            &body.description,
            now,
        );
        row.severity = Some(severity.as_str().into());
        let subject = Subject::Complaint { category, severity };
        create(&self.state, principal, claim, &reporter, row, subject).await
    }

    /// Dispatch or reassign: picks the department and assignee, then transitions.
    async fn assign(
        &self,
        principal: &Principal,
        id: Uuid,
        action: Action,
        body: DispatchBody,
    ) -> Result<ticket::Model, ApiError> {
        let (row, parties) = load(&self.state, principal, id).await?;
        // Refuse early (before picking anyone) when the caller may not or the state is wrong.
        check(&self.state, &row, action, &parties).await?;
        let kind = TicketKind::parse(&row.kind).map_err(|e| anyhow::anyhow!(e))?;
        let (department, role) = match kind {
            TicketKind::Repair => {
                let department = match (&body.department, &row.department) {
                    (Some(d), _) => d.get("department")?,
                    (None, Some(d)) => Department::parse(d).map_err(|e| anyhow::anyhow!(e))?,
                    (None, None) => {
                        let category =
                            RepairCategory::parse(&row.category).map_err(|e| anyhow::anyhow!(e))?;
                        policy_of(&self.state, row.community_id)
                            .await?
                            .department_for(category)
                    }
                };
                (Some(department), department.role())
            }
            TicketKind::Complaint => (None, StaffRole::Butler),
            // A booking goes back to its team's department.
            TicketKind::ServiceBooking => {
                let department = row
                    .department
                    .as_deref()
                    .map(Department::parse)
                    .transpose()
                    .map_err(|e| anyhow::anyhow!(e))?
                    .unwrap_or(Department::Cleaning);
                (Some(department), department.role())
            }
        };
        let assignee = match body.assignee_id {
            Some(id) => {
                let staff = staff_in(&self.state, row.community_id, id)
                    .await?
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "assignee_id",
                            "no active staff member with this id works in the ticket's community",
                        )
                    })?;
                let ok = match kind {
                    TicketKind::Repair | TicketKind::ServiceBooking => staff.role == role.as_str(),
                    TicketKind::Complaint => {
                        matches!(staff.role.as_str(), "butler" | "supervisor" | "front_desk")
                    }
                };
                if !ok {
                    return Err(ApiError::invalid(
                        "assignee_id",
                        format!("the assignee must be a {} here", role.as_str()),
                    ));
                }
                staff.id
            }
            None if kind == TicketKind::Complaint && row.butler_id.is_some() => {
                row.butler_id.unwrap_or_default()
            }
            None if action == Action::Dispatch
                && row.assignee_id.is_some()
                && body.department.is_none() =>
            {
                // A reopened ticket goes back to whoever did the work.
                row.assignee_id.unwrap_or_default()
            }
            None => least_busy(&self.state, row.community_id, role)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid(
                        "assignee_id",
                        format!("no active {} works in this community", role.as_str()),
                    )
                })?,
        };
        let event_data =
            json!({ "assignee_id": assignee, "department": department.map(|d| d.as_str()) });
        transact(
            &self.state,
            principal,
            row,
            parties,
            action,
            body.note,
            Some(event_data),
            move |t, now| {
                t.assignee_id = Set(Some(assignee));
                t.department = Set(department.map(|d| d.as_str().to_owned()));
                t.dispatched_at = Set(Some(now));
            },
        )
        .await
    }
}
