"""The `fiche annotate` page (Gradio): layout and event wiring only; the logic is in session.py."""
from __future__ import annotations

import html
import os
from typing import Any

from fiche_vlm.annotate.form import LIST, MEASURES, TEXT, form_fields
from fiche_vlm.annotate.session import Session, check_form, read_views

MODEL_MARK = " · from the model, not confirmed"
KEYS = """<script>
document.addEventListener('keydown', (event) => {
  const press = (id) => { const b = document.getElementById(id); if (b) { event.preventDefault(); b.click(); } };
  const ctrl = event.ctrlKey || event.metaKey;
  if (ctrl && event.key === 's') press('annotate-save');
  else if (ctrl && event.key === 'Enter') press('annotate-confirm');
  else if (event.altKey && event.key === 'ArrowRight') press('annotate-next');
  else if (event.altKey && event.key === 'ArrowLeft') press('annotate-previous');
});
</script>"""
CSS = "[id^=error-] { color: #b00020; } #annotate-message { font-weight: 600; }"
HELP = "Keys: Alt+→ next · Alt+← previous · Ctrl+S save draft · Ctrl+Enter confirm"


def _field_names() -> list[str]:
    """The form's inputs in schema order: one per text or list field, four for the dimensions."""
    names = []
    for spec in form_fields():
        names += [f"{spec.name}.{part}" for part in spec.parts] if spec.kind == MEASURES else [spec.name]
    return names


def build(session: Session) -> Any:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    names = _field_names()
    with gr.Blocks(title="fiche annotate", head=KEYS, analytics_enabled=False, css=CSS) as page:
        index = gr.State(0)  # the fiche shown; the page opens on the first one still to do
        progress = gr.HTML(elem_id="annotate-progress")
        with gr.Row():
            previous = gr.Button("← Previous", elem_id="annotate-previous", size="sm")
            chooser = gr.Dropdown(label="Fiche", choices=[], elem_id="annotate-chooser", scale=4)
            following = gr.Button("Next →", elem_id="annotate-next", size="sm")
        header = gr.Markdown(elem_id="annotate-header")
        message = gr.Markdown(elem_id="annotate-message")
        with gr.Row():
            save = gr.Button("Save draft", elem_id="annotate-save")
            confirm = gr.Button("Confirm", variant="primary", elem_id="annotate-confirm")
            skip = gr.Button("Skip", elem_id="annotate-skip")
            ask = gr.Button("Ask the model", elem_id="annotate-ask", visible=session.endpoint is not None)
            reload = gr.Button("Reload the file", elem_id="annotate-reload")
        gr.Markdown(HELP)
        with gr.Row():
            with gr.Column(scale=1):
                views = gr.Gallery(label="Views (full size; click one to zoom)", elem_id="annotate-views",
                                   columns=2, object_fit="contain", height=520, preview=False)
                missing = gr.Markdown(elem_id="annotate-missing")
                context = gr.Textbox(label="context_text", interactive=False, lines=6, elem_id="annotate-context")
            with gr.Column(scale=1):
                inputs: dict[str, Any] = {}
                errors: dict[str, Any] = {}
                for spec in form_fields():
                    if spec.kind == TEXT:
                        inputs[spec.name] = gr.Textbox(label=spec.name, elem_id=f"field-{spec.name}")
                    elif spec.kind == LIST:
                        # One item per line: add, remove and reorder lines as in any editor. (A one-column
                        # gr.Dataframe re-rendered its cell editor while checks came back and lost typed keys.)
                        inputs[spec.name] = gr.Textbox(label=spec.name, lines=3, max_lines=12,
                                                       info="one item per line", elem_id=f"field-{spec.name}")
                    else:
                        with gr.Row():
                            for part in spec.parts[:-1]:
                                inputs[f"{spec.name}.{part}"] = gr.Number(
                                    label=f"{spec.name}.{part}", elem_id=f"field-{spec.name}-{part}")
                            unit = spec.parts[-1]
                            inputs[f"{spec.name}.{unit}"] = gr.Dropdown(
                                label=f"{spec.name}.{unit}", choices=list(spec.choices),
                                elem_id=f"field-{spec.name}-{unit}")
                    errors[spec.name] = gr.Markdown(elem_id=f"error-{spec.name}")
                raw = gr.Code(label="JSON answer", language="json", interactive=False, elem_id="annotate-json")

        fields = [inputs[name] for name in names]
        error_boxes = list(errors.values())

        def values_of(args: tuple) -> dict[str, Any]:
            values = dict(zip(names, args, strict=True))
            for spec in form_fields():
                if spec.kind == LIST:
                    values[spec.name] = (values[spec.name] or "").split("\n")
            return values

        def checked_updates(values: dict[str, Any], at: int) -> list[Any]:
            checked = check_form(values)
            fiche = session.fiche(at)
            shown = []
            for spec in form_fields():
                problems = [problem for key, found in checked.problems.items()
                            if key == spec.name or key.startswith(spec.name + ".") for problem in found]
                shown.append(gr.update(value="\n".join(f"⚠ {html.escape(p)}  " for p in problems)))
            can_confirm = checked.valid and fiche.annotatable
            return [*shown, checked.raw_json(), gr.update(interactive=can_confirm)]

        def progress_html() -> str:
            done, total = session.progress()
            return (f'<div id="annotate-count">{done}/{total} confirmed</div>'
                    f'<progress value="{done}" max="{max(total, 1)}" style="width:100%"></progress>')

        def show(at: int, note: str = "") -> list[Any]:
            at = max(0, min(at, len(session.store.fiches) - 1))
            fiche = session.fiche(at)
            choices = [(f"{fiche_.id} — {fiche_.status if fiche_.annotatable else 'not annotatable'}", k)
                       for k, fiche_ in enumerate(session.store.fiches)]
            if not fiche.annotatable:
                title = (f"### {html.escape(fiche.where)}: not annotatable\n{html.escape(fiche.problem)}\n\n"
                         "This line is never rewritten.")
                gallery, missing_text, context_text = [], "", ""
            else:
                title = f"### {html.escape(fiche.id)} — {fiche.status}\n`{fiche.where}`"
                problems = session.draft_problems.get(fiche.id)
                if problems:
                    title += "\n\nThe model's answer had problems: " + "; ".join(html.escape(p) for p in problems)
                found = read_views(fiche, session.store.data_root)
                gallery = found.images
                missing_text = "\n".join(f"- **missing view** {html.escape(line)}" for line in found.missing)
                context_text = fiche.record.get("context_text") or ""
            values = session.form_values(at)
            marked = set(fiche.model_fields)
            field_updates = []
            for name in names:
                top = name.split(".")[0]
                label = name + (MODEL_MARK if top in marked else "")
                value = values[name]
                if name in {spec.name for spec in form_fields() if spec.kind == LIST}:
                    value = "\n".join(value)
                field_updates.append(gr.update(value=value, label=label, interactive=fiche.annotatable))
            return [at, progress_html(), gr.update(choices=choices, value=at), title, note, gallery, missing_text,
                    context_text, *field_updates, *checked_updates(values, at)]

        shown_outputs = [index, progress, chooser, header, message, views, missing, context, *fields, *error_boxes,
                         raw, confirm]
        check_outputs = [*error_boxes, raw, confirm]

        page.load(lambda: show(session.first_to_do()), outputs=shown_outputs)
        previous.click(lambda at: show(at - 1), inputs=[index], outputs=shown_outputs)
        following.click(lambda at: show(at + 1), inputs=[index], outputs=shown_outputs)
        chooser.input(lambda at: show(at), inputs=[chooser], outputs=shown_outputs)
        for component in fields:
            # `input`: the user's edits only, not the values a fiche is shown with. Checks bypass the queue, so
            # they never wait behind a save.
            component.input(lambda at, *args: checked_updates(values_of(args), at), inputs=[index, *fields],
                            outputs=check_outputs, show_progress="hidden", queue=False, trigger_mode="always_last")

        def keep(at: int, note: str, values: dict[str, Any]) -> list[Any]:
            """A refused action: the message, and the form as the user left it (no edit lost)."""
            untouched = [gr.update() for _ in range(3 + len(fields))]  # views, missing, context and the fields
            return [at, progress_html(), gr.update(), gr.update(), note, *untouched, *checked_updates(values, at)]

        def act(action: Any, at: int, args: tuple, then: int = 0) -> list[Any]:
            values = values_of(args)
            ok, note = action(at, values)
            return show(at + then, note) if ok else keep(at, note, values)

        form_inputs = [index, *fields]
        save.click(lambda at, *args: act(session.save_draft, at, args), inputs=form_inputs, outputs=shown_outputs)
        confirm.click(lambda at, *args: act(session.confirm, at, args), inputs=form_inputs, outputs=shown_outputs)
        skip.click(lambda at, *args: act(lambda k, _: session.skip(k), at, args, then=1), inputs=form_inputs,
                   outputs=shown_outputs)
        ask.click(lambda at, *args: act(lambda k, _: session.ask_model(k), at, args), inputs=form_inputs,
                  outputs=shown_outputs)
        def reload_keeping_the_edit(at: int, *args: Any) -> list[Any]:
            before = session.fiche(at).id
            note = session.reload()
            if session.fiche(at).id != before:  # the lines moved: this place holds another fiche now
                return show(at, f"{note} The fiche shown before is no longer at this place.")
            return keep(at, f"{note} Your edit is still on the page: save or confirm it again.", values_of(args))

        reload.click(reload_keeping_the_edit, inputs=form_inputs, outputs=shown_outputs)
    return page
