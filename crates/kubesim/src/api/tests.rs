use super::*;

#[test]
fn decodes_query_values() {
    let pairs = url_decode_pairs("labelSelector=app%3Dweb%2Ctier+in+%28a%29&limit=5&x");
    assert_eq!(pairs[0], ("labelSelector".into(), "app=web,tier in (a)".into()));
    assert_eq!(pairs[1], ("limit".into(), "5".into()));
    assert_eq!(pairs[2], ("x".into(), String::new()));
    assert_eq!(percent_decode("100%"), "100%");
}

#[test]
fn negotiates_tables_and_protobuf_only() {
    let mut h = HeaderMap::new();
    h.insert(header::ACCEPT, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json".parse().expect("header"));
    assert!(negotiate(&h, &HashMap::new(), false).expect("ok").table);
    h.insert(header::ACCEPT, "application/vnd.kubernetes.protobuf".parse().expect("header"));
    assert!(negotiate(&h, &HashMap::new(), false).expect("protobuf only").proto);
    h.insert(header::ACCEPT, "application/vnd.kubernetes.protobuf,application/json".parse().expect("header"));
    assert!(!negotiate(&h, &HashMap::new(), false).expect("json too").proto);
    assert!(negotiate(&h, &HashMap::new(), true).expect("protobuf first").proto);
    h.insert(header::ACCEPT, "application/json,application/vnd.kubernetes.protobuf".parse().expect("header"));
    assert!(!negotiate(&h, &HashMap::new(), true).expect("json first").proto);
    h.insert(header::ACCEPT, "application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1".parse().expect("h"));
    assert_eq!(negotiate(&h, &HashMap::new(), false).map(|_| ()).map_err(|e| e.code), Err(406));
    h.insert(header::ACCEPT, "text/plain".parse().expect("header"));
    assert_eq!(negotiate(&h, &HashMap::new(), false).map(|_| ()).map_err(|e| e.code), Err(406));
}

#[test]
fn negotiates_partial_object_metadata() {
    let mut h = HeaderMap::new();
    h.insert(header::ACCEPT, "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1".parse().expect("h"));
    let r = negotiate(&h, &HashMap::new(), false).expect("ok");
    assert_eq!(r.partial_list, Some(false));
    let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}, "spec": {}});
    assert_eq!(
        shape_object(r, obj.clone()).expect("shaped"),
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": {"name": "a"}})
    );
    h.insert(header::ACCEPT, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1".parse().expect("h"));
    let r = negotiate(&h, &HashMap::new(), false).expect("ok");
    assert_eq!(r.partial_list, Some(true));
    assert_eq!(shape_object(r, obj).map_err(|e| e.code), Err(406));
    // Another group or version is not offered: 406 unless a later choice fits.
    assert_eq!(partial_metadata_choice("application/json;as=PartialObjectMetadata;g=other;v=v1"), None);
    h.insert(header::ACCEPT, "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v9".parse().expect("h"));
    assert_eq!(negotiate(&h, &HashMap::new(), false).map(|_| ()).map_err(|e| e.code), Err(406));
}
