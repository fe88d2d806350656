from kopf._core.intents import handlers

from daskrun.embedded_controller import scoped_registry


def test_every_resource_handler_is_scoped_to_the_run():
    registry = scoped_registry("daskrun.io/controller", "run-a")
    resource_handlers = [h for name in ("_changing", "_watching", "_spawning", "_indexing")
                         for h in getattr(registry, name).get_all_handlers()]
    assert len(resource_handlers) >= 10  # the dask controller's create/field/timer/delete handlers
    for handler in resource_handlers:
        assert isinstance(handler, handlers.ResourceHandler)
        assert handler.labels["daskrun.io/controller"] == "run-a", handler.id


def test_existing_label_filters_are_kept():
    registry = scoped_registry("daskrun.io/controller", "run-b")
    service = [h for h in registry._changing.get_all_handlers() if "scheduler_service" in h.id]
    assert service and service[0].labels == {"dask.org/component": "scheduler", "daskrun.io/controller": "run-b"}


def test_two_scopes_do_not_share_handlers():
    a = scoped_registry("daskrun.io/controller", "a")._changing.get_all_handlers()
    b = scoped_registry("daskrun.io/controller", "b")._changing.get_all_handlers()
    assert {h.labels["daskrun.io/controller"] for h in a} == {"a"}
    assert {h.labels["daskrun.io/controller"] for h in b} == {"b"}


def test_no_handler_puts_a_finalizer_that_would_outlive_the_launcher():
    registry = scoped_registry("daskrun.io/controller", "run-c")
    handlers_all = [h for name in ("_changing", "_watching", "_spawning", "_indexing")
                    for h in getattr(registry, name).get_all_handlers()]
    timers = [h for h in handlers_all if "autoshutdown" in h.id or "adapt" in h.id]
    assert timers, "the dask controller's timers are copied"
    assert not [h.id for h in handlers_all if getattr(h, "requires_finalizer", None)]


def test_its_kopf_marks_have_their_own_prefix():
    from daskrun.controller_choice import EMBEDDED_PREFIX, foreign_marks
    from daskrun.embedded_controller import settings

    persistence = settings().persistence
    assert persistence.progress_storage.prefix == EMBEDDED_PREFIX
    assert persistence.diffbase_storage.prefix == EMBEDDED_PREFIX
    assert persistence.finalizer.startswith(EMBEDDED_PREFIX + "/")
    keys = [*persistence.diffbase_storage.make_keys("last-handled-configuration"),
            *persistence.progress_storage.make_keys("daskcluster_create")]
    body = {"metadata": {"annotations": dict.fromkeys(keys, "{}"), "finalizers": [persistence.finalizer]}}
    assert foreign_marks(body) == [], "its own marks never read as another controller's"


def test_its_marks_are_not_copied_onto_the_objects_it_creates():
    import kopf
    from dask_kubernetes.operator.controller import controller

    from daskrun.controller_choice import EMBEDDED_PREFIX

    scoped_registry("daskrun.io/controller", "run-d")
    meta = kopf.Meta({"metadata": {"annotations": {f"{EMBEDDED_PREFIX}/last-handled-configuration": "{}",
                                                   "team.example.com/owner": "me"}}})
    assert controller._get_annotations(meta) == {"team.example.com/owner": "me"}
